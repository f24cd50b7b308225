"""ID decoder (`model.id_decoder`): in-context ID prediction over an ID vocabulary (MOTIP, CVPR 2025).

Each trajectory token is [trajectory feature | embedding of its ID word]; each unknown (current) detection is
[feature | embedding of the "newborn" word, index NUM_ID_VOCABULARY]. Layers = (self-attention among the
unknowns of one frame, from layer 1 on) + cross-attention to all earlier trajectory tokens with a learnt
relative-time bias (REL_PE_LENGTH x heads per layer) + FFN. Each layer's ID logits come from `embed_to_word`.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from motip.model.trajectory_modeling import FFN


def _get_clones(module: nn.Module, n: int) -> nn.ModuleList:
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class IDDecoder(nn.Module):
    def __init__(self, feature_dim: int, id_dim: int, ffn_dim_ratio: int, num_layers: int, head_dim: int,
                 num_id_vocabulary: int, rel_pe_length: int, use_aux_loss: bool, use_shared_aux_head: bool) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.id_dim = id_dim
        self.ffn_dim_ratio = ffn_dim_ratio
        self.num_layers = num_layers
        self.head_dim = head_dim
        self.n_heads = (feature_dim + id_dim) // head_dim
        self.num_id_vocabulary = num_id_vocabulary
        self.rel_pe_length = rel_pe_length
        self.use_aux_loss = use_aux_loss
        self.use_shared_aux_head = use_shared_aux_head
        embed_dim = feature_dim + id_dim

        self.word_to_embed = nn.Linear(num_id_vocabulary + 1, id_dim, bias=False)
        embed_to_word = nn.Linear(id_dim, num_id_vocabulary + 1, bias=False)
        if use_aux_loss and not use_shared_aux_head:
            self.embed_to_word_layers = _get_clones(embed_to_word, num_layers)
        else:
            # One shared head listed once per layer: the official checkpoints save it under every index.
            self.embed_to_word_layers = nn.ModuleList([embed_to_word for _ in range(num_layers)])

        self.rel_pos_embeds = nn.Parameter(torch.zeros((num_layers, rel_pe_length, self.n_heads), dtype=torch.float32))
        # rel_pos_map[curr_t, traj_t] = curr_t - traj_t; a plain attribute (not in the state dict), as upstream.
        t_idxs = torch.arange(rel_pe_length, dtype=torch.int64)
        curr_t_idxs, traj_t_idxs = torch.meshgrid([t_idxs, t_idxs], indexing="ij")
        self.rel_pos_map = curr_t_idxs - traj_t_idxs

        def attention() -> nn.MultiheadAttention:
            return nn.MultiheadAttention(embed_dim=embed_dim, num_heads=self.n_heads, dropout=0.0, batch_first=True,
                                         add_zero_attn=True)

        self.self_attn_layers = _get_clones(attention(), num_layers - 1)
        self.self_attn_norm_layers = _get_clones(nn.LayerNorm(embed_dim), num_layers - 1)
        self.cross_attn_layers = _get_clones(attention(), num_layers)
        self.cross_attn_norm_layers = _get_clones(nn.LayerNorm(embed_dim), num_layers)
        self.ffn_layers = _get_clones(FFN(embed_dim, embed_dim * ffn_dim_ratio, nn.GELU()), num_layers)
        self.ffn_norm_layers = _get_clones(nn.LayerNorm(embed_dim), num_layers)

        for name, p in self.named_parameters():
            if p.dim() > 1 and "rel_pos_embeds" not in name:
                nn.init.xavier_uniform_(p)

    @property
    def dtype(self) -> torch.dtype:
        return self.word_to_embed.weight.dtype

    def id_label_to_embed(self, id_labels: torch.Tensor) -> torch.Tensor:
        # One-hot times the weight = a column lookup; kept as a matmul to match the official numerics.
        one_hot = torch.eye(self.num_id_vocabulary + 1, device=id_labels.device, dtype=self.dtype)[id_labels]
        return self.word_to_embed(one_hot)

    def generate_empty_id_embed(self, unknown_features: torch.Tensor) -> torch.Tensor:
        labels = torch.full(unknown_features.shape[:-1], self.num_id_vocabulary, dtype=torch.int64,
                            device=unknown_features.device)
        return self.id_label_to_embed(labels)

    def forward(self, seq_info: dict[str, Any],
                use_decoder_checkpoint: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """seq_info holds trajectory_/unknown_ features [B,G,T,N,C], id_labels, times, masks [B,G,T,N] (True =
        padding). Returns (id_logits [B',G,T,N,V+1], id_labels or None, id_masks); B' = B*num_layers when
        training with USE_AUX_LOSS (all layers stacked on dim 0), else the last layer only."""
        trajectory_features = seq_info["trajectory_features"]
        unknown_features = seq_info["unknown_features"]
        trajectory_id_labels = seq_info["trajectory_id_labels"]
        unknown_id_labels = seq_info.get("unknown_id_labels")
        trajectory_times = seq_info["trajectory_times"]
        unknown_times = seq_info["unknown_times"]
        trajectory_masks = seq_info["trajectory_masks"]
        unknown_masks = seq_info["unknown_masks"]
        b, g, _, _, _ = trajectory_features.shape
        _, _, curr_t, curr_n, _ = unknown_features.shape

        trajectory_embeds = torch.cat([trajectory_features, self.id_label_to_embed(trajectory_id_labels)], dim=-1)
        unknown_embeds = torch.cat([unknown_features, self.generate_empty_id_embed(unknown_features)], dim=-1)

        self_attn_key_padding_mask = unknown_masks.reshape(b * g * curr_t, curr_n).contiguous()
        cross_attn_key_padding_mask = trajectory_masks.reshape(b * g, -1).contiguous()
        traj_times_flat = trajectory_times.reshape(b * g, -1)
        unknown_times_flat = unknown_times.reshape(b * g, -1)
        # A current token may only attend to trajectory tokens strictly earlier in time.
        cross_attn_mask = traj_times_flat[:, None, :] >= unknown_times_flat[:, :, None]
        cross_attn_mask = cross_attn_mask.repeat_interleave(self.n_heads, dim=0)
        self.rel_pos_map = self.rel_pos_map.to(trajectory_features.device)
        rel_pe_idxs = self.rel_pos_map[unknown_times_flat[:, :, None], traj_times_flat[:, None, :]]
        cross_attn_key_padding_mask = torch.zeros_like(cross_attn_key_padding_mask, dtype=torch.float32).masked_fill(
            cross_attn_key_padding_mask, float("-inf")).to(self.dtype)
        cross_attn_mask = torch.zeros_like(cross_attn_mask, dtype=torch.float32).masked_fill(
            cross_attn_mask, float("-inf")).to(self.dtype)

        all_logits, all_labels, all_masks = [], [], []
        id_logits = id_labels = id_masks = None
        for layer in range(self.num_layers):
            args = (layer, unknown_embeds, trajectory_embeds, self_attn_key_padding_mask,
                    cross_attn_key_padding_mask, cross_attn_mask, rel_pe_idxs)
            if use_decoder_checkpoint and torch.is_grad_enabled():
                unknown_embeds = checkpoint(self._forward_a_layer, *args, use_reentrant=False)
            else:
                unknown_embeds = self._forward_a_layer(*args)
            id_logits = self.embed_to_word_layers[layer](unknown_embeds[..., -self.id_dim:])
            id_masks = unknown_masks.clone()
            id_labels = unknown_id_labels if self.training else None
            all_logits.append(id_logits)
            all_labels.append(id_labels)
            all_masks.append(id_masks)

        if self.training and self.use_aux_loss:
            labels = torch.cat(all_labels, dim=0) if all_labels[0] is not None else None
            return torch.cat(all_logits, dim=0), labels, torch.cat(all_masks, dim=0)
        return id_logits, id_labels, id_masks

    def _forward_a_layer(self, layer: int, unknown_embeds: torch.Tensor, trajectory_embeds: torch.Tensor,
                         self_attn_key_padding_mask: torch.Tensor, cross_attn_key_padding_mask: torch.Tensor,
                         cross_attn_mask: torch.Tensor, rel_pe_idx: torch.Tensor) -> torch.Tensor:
        b, g, _, _, _ = trajectory_embeds.shape
        _, _, curr_t, curr_n, c = unknown_embeds.shape
        if layer > 0:  # exchange information among the detections of the same frame
            x = unknown_embeds.reshape(b * g * curr_t, curr_n, c).contiguous()
            out, _ = self.self_attn_layers[layer - 1](query=x, key=x, value=x,
                                                      key_padding_mask=self_attn_key_padding_mask)
            x = self.self_attn_norm_layers[layer - 1](x + out)
            unknown_embeds = x.reshape(b, g, curr_t, curr_n, c)

        query = unknown_embeds.reshape(b * g, curr_t * curr_n, c).contiguous()
        memory = trajectory_embeds.reshape(b * g, -1, c).contiguous()
        rel_pe = self.rel_pos_embeds[layer][rel_pe_idx]  # [BG, Lq, Lk, heads]
        attn_mask = cross_attn_mask + rel_pe.permute(0, 3, 1, 2).reshape(-1, rel_pe.shape[1], rel_pe.shape[2])
        out, _ = self.cross_attn_layers[layer](query=query, key=memory, value=memory,
                                               key_padding_mask=cross_attn_key_padding_mask, attn_mask=attn_mask)
        x = self.cross_attn_norm_layers[layer](query + out)
        x = self.ffn_norm_layers[layer](x + self.ffn_layers[layer](x))
        return x.reshape(b, g, curr_t, curr_n, c)
