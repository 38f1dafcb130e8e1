"""Randomly initialised CLIP models saved as downloaded ones are (sentence-transformers, plain Hugging Face and
open_clip folders), for offline tests and speed benchmarks.

They load through exactly the same code path as a downloaded model; their vectors mean nothing semantically.
"""

from __future__ import annotations

from pathlib import Path

from core.models import torchvision_compat

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
    torchvision_compat.ensure_importable()  # before transformers, which imports torchvision once it is installed
    from transformers import CLIPTokenizer

    alphabet = _byte_alphabet()
    vocab = {tok: i for i, tok in enumerate(alphabet + [c + "</w>" for c in alphabet] + SPECIAL)}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    tokenizer.model_max_length = 77
    return tokenizer


def save_random_hf_clip(out_dir: Path, tiny: bool = True, seed: int = 0, projection_dim: int = 16) -> Path:
    """Save a random CLIPModel and its CLIPProcessor with save_pretrained: a plain Hugging Face checkpoint, no
    sentence-transformers files (tiny, or full-size ViT-B/32 from transformers' default CLIPConfig)."""
    torchvision_compat.ensure_importable()
    import torch
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
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def save_random_clip(out_dir: Path, tiny: bool = True, seed: int = 0, projection_dim: int = 16) -> Path:
    """Save a random CLIP (tiny, or full-size ViT-B/32 from transformers' default CLIPConfig) as a ST model folder.
    projection_dim sets a tiny model's vector size (benchmarks of the store use 512, the real model's)."""
    torchvision_compat.ensure_importable()  # before sentence-transformers, which imports transformers' CLIP
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer

    out_dir = Path(out_dir)
    hf_dir = save_random_hf_clip(out_dir / "hf", tiny, seed, projection_dim)
    SentenceTransformer(modules=[Transformer(str(hf_dir))], device="cpu").save(str(out_dir / "st"))
    return out_dir / "st"


def tiny_open_clip_config(embed_dim: int = 24) -> dict:
    """A tiny open_clip CLIP: a 2-layer ViT on 32 px photos (8 px patches), a 2-layer text tower, 77 tokens."""
    return {"embed_dim": embed_dim,
            "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "head_width": 16, "layers": 2},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}}


def tiny_siglip_config(embed_dim: int, vocab_size: int) -> dict:
    """Marqo-FashionSigLIP's layout, small: a timm ViT (vit_tiny, 224 px: timm keeps its own size), a text tower
    without causal mask and a Hugging Face tokenizer; photos squashed to a square, mean and std 0.5."""
    return {"model_cfg": {"embed_dim": embed_dim, "init_logit_bias": -10, "custom_text": True,
                          "vision_cfg": {"image_size": 224, "timm_model_name": "vit_tiny_patch16_224",
                                         "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": "none"},
                          "text_cfg": {"context_length": 64, "vocab_size": vocab_size, "hf_tokenizer_name": "local",
                                       "tokenizer_kwargs": {"clean": "canonicalize"}, "width": 32, "heads": 2,
                                       "layers": 2, "no_causal_mask": True, "proj_bias": True, "pool_type": "last",
                                       "norm_kwargs": {"eps": 1e-6}}},
            "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic",
                               "resize_mode": "squash"}}


def save_random_open_clip(out_dir: Path, seed: int = 0, embed_dim: int = 24, siglip: bool = False) -> Path:
    """Save a random tiny open_clip model as hub repos lay one out (open_clip_config.json beside
    open_clip_model.safetensors), so 'open_clip:<folder>' loads it. A CLIP uses open_clip's bundled tokenizer;
    siglip=True saves tiny_siglip_config's model with make_tokenizer() as its Hugging Face tokenizer."""
    import json
    import logging

    import torch
    from safetensors.torch import save_file

    from core.models.backends.open_clip import import_open_clip

    open_clip = import_open_clip()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if siglip:
        tokenizer = make_tokenizer()
        tokenizer.save_pretrained(out_dir)
        config = tiny_siglip_config(embed_dim, len(tokenizer.get_vocab()))
    else:
        config = {"model_cfg": tiny_open_clip_config(embed_dim), "preprocess_cfg": {}}
    (out_dir / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(seed)
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # not open_clip's warnings that the model has no weights yet
    try:
        model = open_clip.create_model(f"local-dir:{out_dir.resolve()}", load_weights=False)
    finally:
        root.setLevel(level)
    save_file(model.state_dict(), str(out_dir / "open_clip_model.safetensors"))
    return out_dir
