"""Regional attention without a dense mask: the joint-attention rule of ``regions.joint_attention_mask``
computed as a few unmasked attention calls on gathered keys.

A dense (L, L) mask makes ``scaled_dot_product_attention`` walk every masked pair, and on the CPU it
costs about 1.3× the attention itself at 3 000 tokens, growing with the size (docs/guides.md, Measured).
The rule has few distinct rows, though: image tokens that read the same prompts form one group, and each
prompt's text tokens another. Each group's queries attend, without a mask, to exactly the keys its row
allows (gathered), so the softmax runs over the same set of keys as with the mask and the result differs
by summation order only; the work is that of plain attention plus the region prompts' own.

``RegionalAttnProcessor`` wraps diffusers' Flux attention processor on every attention module while the
regions hook is attached. Given ``regional`` (the regions hook's ``joint_attention_kwargs``) it runs
diffusers' own projections, norms and rotary embedding as ``FluxAttnProcessor.__call__`` does and only
the attention call is ours; without it, the wrapped processor runs unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AttentionGroup:
    """Queries at ``queries`` attend to the keys at ``keys`` (positions in the joint sequence)."""

    queries: torch.Tensor
    keys: torch.Tensor


def attention_groups(
    text_lengths: Sequence[int], regions: np.ndarray, *, negative: bool
) -> list[AttentionGroup]:
    """The rows of ``joint_attention_mask(text_lengths, regions)`` (``negative_attention_mask`` when
    ``negative``) grouped by the keys they allow. ``regions`` is (R, rows, cols + 2)."""
    count = regions.shape[0]
    image = int(np.prod(regions.shape[1:]))
    text_total = sum(text_lengths)
    starts = np.cumsum([0, *text_lengths])
    spans = [np.arange(starts[i], starts[i + 1]) for i in range(count + 1)]
    image_positions = np.arange(text_total, text_total + image)
    groups: list[tuple[np.ndarray, np.ndarray]] = []
    if negative:
        groups.append((image_positions, np.concatenate([spans[0], image_positions])))
        groups.append((spans[0], np.concatenate([spans[0], image_positions])))
        groups += [(span, span) for span in spans[1:]]
    else:
        inside = regions.reshape(count, image)
        readers = np.concatenate([~inside.any(axis=0)[None], inside])  # (R + 1, N): who reads prompt p
        patterns, of_token = np.unique(readers.T, axis=0, return_inverse=True)
        for index, pattern in enumerate(patterns):
            read = np.concatenate([spans[p] for p in np.flatnonzero(pattern)])
            groups.append(
                (image_positions[of_token.reshape(-1) == index], np.concatenate([read, image_positions]))
            )
        for prompt in range(count + 1):
            groups.append((spans[prompt], np.concatenate([spans[prompt], image_positions[readers[prompt]]])))
    return [
        AttentionGroup(torch.from_numpy(q).long(), torch.from_numpy(k).long()) for q, k in groups if len(q)
    ]


class RegionalAttention:
    """The grouped attention of one call: one list of groups per batch item (cond or negative)."""

    def __init__(self, items: Sequence[Sequence[AttentionGroup]]) -> None:
        self.items = items

    def attend(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """(B, L, H, D) in, (B, L, H, D) out, as diffusers' attention dispatch takes and gives them."""
        out = torch.empty_like(query)
        for item, groups in enumerate(self.items):
            for group in groups:
                # Gathered from the (L, H, D) layout and given as 4-D (1, H, n, D): 3-D gathers of the
                # transposed tensor ran three times slower on the CPU (measured at 3 136 tokens).
                q, k, v = (
                    tensor[item].index_select(0, index).transpose(0, 1)[None]
                    for tensor, index in ((query, group.queries), (key, group.keys), (value, group.keys))
                )
                attended = F.scaled_dot_product_attention(q, k, v)
                out[item].index_copy_(0, group.queries, attended[0].transpose(0, 1))
        return out


class RegionalAttnProcessor:
    """Diffusers' Flux attention processor with the attention call replaced while ``regional`` is given."""

    def __init__(self, wrapped) -> None:
        self.wrapped = wrapped

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb=None,
        regional: RegionalAttention | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if regional is None:
            return self.wrapped(attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb)
        from diffusers.models.embeddings import apply_rotary_emb
        from diffusers.models.transformers.transformer_flux import _get_qkv_projections

        # As FluxAttnProcessor.__call__ (diffusers 0.36–0.42) up to its attention call.
        query, key, value, encoder_query, encoder_key, encoder_value = _get_qkv_projections(
            attn, hidden_states, encoder_hidden_states
        )
        query = attn.norm_q(query.unflatten(-1, (-1, attn.head_dim)))
        key = attn.norm_k(key.unflatten(-1, (-1, attn.head_dim)))
        value = value.unflatten(-1, (-1, attn.head_dim))
        if attn.added_kv_proj_dim is not None:
            encoder_query = attn.norm_added_q(encoder_query.unflatten(-1, (-1, attn.head_dim)))
            encoder_key = attn.norm_added_k(encoder_key.unflatten(-1, (-1, attn.head_dim)))
            encoder_value = encoder_value.unflatten(-1, (-1, attn.head_dim))
            query = torch.cat([encoder_query, query], dim=1)
            key = torch.cat([encoder_key, key], dim=1)
            value = torch.cat([encoder_value, value], dim=1)
        if image_rotary_emb is not None:
            query = apply_rotary_emb(query, image_rotary_emb, sequence_dim=1)
            key = apply_rotary_emb(key, image_rotary_emb, sequence_dim=1)
        hidden_states = regional.attend(query, key, value).flatten(2, 3).to(query.dtype)
        if encoder_hidden_states is None:
            return hidden_states
        text = encoder_hidden_states.shape[1]
        encoder_hidden_states, hidden_states = hidden_states.split_with_sizes(
            [text, hidden_states.shape[1] - text], dim=1
        )
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states.contiguous()))
        encoder_hidden_states = attn.to_add_out(encoder_hidden_states.contiguous())
        return hidden_states, encoder_hidden_states


@contextlib.contextmanager
def regional_processors(transformer) -> Iterator[None]:
    """Every attention module's processor wrapped by ``RegionalAttnProcessor`` for the block."""
    originals = dict(transformer.attn_processors)
    transformer.set_attn_processor({name: RegionalAttnProcessor(p) for name, p in originals.items()})
    try:
        yield
    finally:
        transformer.set_attn_processor(originals)
