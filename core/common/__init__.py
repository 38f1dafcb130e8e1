"""The bottom layer every other package may use: settings (config), the errors shown to users, file and lock helpers,
field names, filters, safe text, vectors and iterables; imports nothing else of core."""
