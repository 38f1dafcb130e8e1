"""Randomly initialised CLIP models saved in the sentence-transformers format (offline tests and speed benchmarks).

They load through exactly the same code path as a downloaded model; their vectors mean nothing semantically.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = ["<|startoftext|>", "<|endoftext|>"]


def _byte_alphabet() -> list[str]:
    """GPT-2/CLIP byte-to-unicode alphabet: 256 printable characters, one per byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return [chr(c) for c in cs]


def make_tokenizer():
    """A character-level CLIP tokenizer built offline: every byte and byte+'</w>' is a token, no merges."""
    from transformers import CLIPTokenizer

    alphabet = _byte_alphabet()
    vocab = {tok: i for i, tok in enumerate(alphabet + [c + "</w>" for c in alphabet] + SPECIAL)}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    tokenizer.model_max_length = 77
    return tokenizer


def save_random_clip(out_dir: Path, tiny: bool = True, seed: int = 0, projection_dim: int = 16) -> Path:
    """Save a random CLIP (tiny, or full-size ViT-B/32 from transformers' default CLIPConfig) as a ST model folder.
    projection_dim sets a tiny model's vector size (benchmarks of the store use 512, the real model's)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    out_dir = Path(out_dir)
    tokenizer = make_tokenizer()
    vocab_size = len(tokenizer.get_vocab())
    bos, eos = tokenizer.convert_tokens_to_ids(SPECIAL)
    text = dict(vocab_size=vocab_size, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos,
                max_position_embeddings=77)
    if tiny:
        text.update(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      image_size=32, patch_size=8)
        config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)
        image_side = 32
    else:
        config = CLIPConfig(text_config=text)  # transformers' defaults are the ViT-B/32 architecture
        image_side = 224
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": image_side},
                                            crop_size={"height": image_side, "width": image_side})
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    hf_dir = out_dir / "hf"
    model.save_pretrained(hf_dir)
    processor.save_pretrained(hf_dir)
    SentenceTransformer(modules=[Transformer(str(hf_dir))], device="cpu").save(str(out_dir / "st"))
    return out_dir / "st"
