"""MiniLM-L6 sentence encoder (all-MiniLM-L6-v2): a 6-layer BERT, mean pooling, unit norm.

A small BERT forward written here (not ``transformers.BertModel``) so encoding needs only torch
and ``tokenizers``: importing transformers costs seconds per CLI process and brings code this
one model never runs. Module names mirror the Hugging Face checkpoint's keys, so its
safetensors load strictly (``embeddings.word_embeddings.weight``, ``encoder.layer.0...``).
The encoder takes texts, not tensors: it tokenizes each batch itself (truncating at the
model's window, ``max_seq_length`` tokens) and has no decoder (``Capabilities.decodes`` is
False); edits of its latents are decoded by retrieval (``models.text_decoder``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from latentops.errors import InvalidInputError, UnsupportedOperationError
from latentops.models.base import Autoencoder, EncodeOutput, LossOutput
from latentops.models.protocol import Capabilities, ModelSpec


@dataclass(frozen=True)
class MiniLMConfig:
    """BERT sizes of all-MiniLM-L6-v2 and its sentence window (sentence-transformers' 256)."""

    vocab_size: int = 30522
    hidden: int = 384
    layers: int = 6
    heads: int = 12
    intermediate: int = 1536
    max_positions: int = 512
    type_vocab: int = 2
    eps: float = 1e-12
    max_seq_length: int = 256  # tokens per text, [CLS] and [SEP] included; longer is truncated


def _dense_norm(d_in: int, hidden: int, eps: float) -> nn.ModuleDict:
    """``dense`` (d_in -> hidden) + ``LayerNorm``: the checkpoint's output blocks."""
    return nn.ModuleDict(
        {"dense": nn.Linear(d_in, hidden), "LayerNorm": nn.LayerNorm(hidden, eps=eps)}
    )


class _Layer(nn.Module):
    """One post-norm BERT block: self-attention then a GELU MLP, each with a residual."""

    def __init__(self, c: MiniLMConfig) -> None:
        super().__init__()
        self.heads = c.heads
        qkv = {k: nn.Linear(c.hidden, c.hidden) for k in ("query", "key", "value")}
        self.attention = nn.ModuleDict(
            {"self": nn.ModuleDict(qkv), "output": _dense_norm(c.hidden, c.hidden, c.eps)}
        )
        self.intermediate = nn.ModuleDict({"dense": nn.Linear(c.hidden, c.intermediate)})
        self.output = _dense_norm(c.intermediate, c.hidden, c.eps)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, C = h.shape
        att = self.attention["self"]
        q, k, v = (
            att[n](h).view(B, T, self.heads, C // self.heads).transpose(1, 2)  # (B, nh, T, hs)
            for n in ("query", "key", "value")
        )
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)
        out = self.attention["output"]
        h = out["LayerNorm"](h + out["dense"](y))
        m = F.gelu(self.intermediate["dense"](h))  # exact (erf) GELU, as BERT's "gelu"
        return self.output["LayerNorm"](h + self.output["dense"](m))


class MiniLM(Autoencoder):
    """all-MiniLM-L6-v2 behind the latent-model protocol: texts -> unit z (B, 384), no decoder."""

    arch = "minilm"
    has_decoder = False

    def __init__(self, config: MiniLMConfig, tokenizer_json: str) -> None:
        super().__init__()
        from tokenizers import Tokenizer  # the [text] extra; imported only when built

        self.config = config
        c = config
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.enable_truncation(max_length=c.max_seq_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest
        self.embeddings = nn.ModuleDict(
            {
                "word_embeddings": nn.Embedding(c.vocab_size, c.hidden, padding_idx=0),
                "position_embeddings": nn.Embedding(c.max_positions, c.hidden),
                "token_type_embeddings": nn.Embedding(c.type_vocab, c.hidden),
                "LayerNorm": nn.LayerNorm(c.hidden, eps=c.eps),
            }
        )
        self.encoder = nn.ModuleDict({"layer": nn.ModuleList(_Layer(c) for _ in range(c.layers))})

    @property
    def latent_dim(self) -> int:
        """384: the sentence embedding length."""
        return self.config.hidden

    @property
    def x_shape(self) -> tuple[int, ...]:
        """() : one item is one text."""
        return ()

    @property
    def spec(self) -> ModelSpec:
        """Text in, unit-norm z (384,) out, no prior."""
        return ModelSpec(self.latent_dim, "text", (), "none")

    @property
    def capabilities(self) -> Capabilities:
        """Encoder only: no decoder, posterior, first decoder layer or codebook."""
        return Capabilities()

    def check_texts(self, x: Sequence[str]) -> list[str]:
        """Raise unless x is a sequence of non-empty strings; return it as a list."""
        if isinstance(x, str | torch.Tensor) or not isinstance(x, Sequence | np.ndarray):
            raise InvalidInputError(
                f"the minilm model encodes a list of texts, got {type(x).__name__}; pass "
                "['a sentence', ...] (a text dataset's batches)"
            )
        texts = list(x)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if bad:
            raise InvalidInputError(
                f"texts at positions {bad[:5]} are empty or not strings; every item must be a "
                "non-empty string"
            )
        return texts

    def truncated(self, x: Sequence[str]) -> np.ndarray:
        """(B,) bool: which texts are longer than the window and lose their tail when encoded."""
        encodings = self.tokenizer.encode_batch(self.check_texts(x))
        return np.array([bool(e.overflowing) for e in encodings], dtype=bool)

    def encode_stats(self, x: Sequence[str]) -> EncodeOutput:
        """Tokenize, run BERT, mean-pool over real tokens, L2-normalise: z (B, 384)."""
        encodings = self.tokenizer.encode_batch(self.check_texts(x))
        dev = self.embeddings["word_embeddings"].weight.device
        ids = torch.tensor([e.ids for e in encodings], device=dev)  # (B, T)
        keep = torch.tensor([e.attention_mask for e in encodings], device=dev)  # (B, T)
        emb = self.embeddings
        pos = torch.arange(ids.shape[1], device=dev)
        h = emb["word_embeddings"](ids) + emb["position_embeddings"](pos)[None]
        h = emb["LayerNorm"](h + emb["token_type_embeddings"].weight[0])  # (B, T, C)
        mask = keep[:, None, None, :].bool()  # (B, 1, 1, T): padding is never attended to
        for layer in self.encoder["layer"]:
            h = layer(h, mask)
        w = keep[..., None].to(h.dtype)  # (B, T, 1)
        pooled = (h * w).sum(1) / w.sum(1).clamp_min(1e-9)  # (B, C)
        return EncodeOutput(z=F.normalize(pooled.float(), dim=-1), logvar=None)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Always raises: a sentence encoder has no decoder (decode edits by retrieval)."""
        raise UnsupportedOperationError(
            "the minilm text encoder has no decoder; edits of its latents are decoded by "
            "retrieving the nearest corpus sentences (latentops edit on a text table does that)"
        )

    def loss(self, x: torch.Tensor) -> LossOutput:
        """Always raises: the pretrained encoder is used as is."""
        raise UnsupportedOperationError(
            "minilm is a pretrained encoder that latentops does not train; encode with it"
        )
