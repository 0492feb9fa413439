"""Frame tokenizer: FSQ conv autoencoder, uint8 frames (B, H, W, 3) <-> int64 token grids (B, h, w)."""

from worldmodel.tokenizer.config import TokenizerConfig
from worldmodel.tokenizer.fsq import FSQ
from worldmodel.tokenizer.io import load_tokenizer, save_tokenizer
from worldmodel.tokenizer.model import Tokenizer, float_to_frames, frames_to_float

__all__ = ["FSQ", "Tokenizer", "TokenizerConfig", "float_to_frames", "frames_to_float", "load_tokenizer", "save_tokenizer"]
