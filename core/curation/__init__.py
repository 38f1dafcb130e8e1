"""What a merchandiser keeps and shares: boards, the compare list, dismissed duplicate pairs, page state in the URL and
every CSV export; above search, below insights."""
