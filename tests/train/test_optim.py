"""Optimisers by name: each steps and lowers the loss of a toy problem; weight-decay groups hold."""

import pytest
import torch

from jaforge.train.config import OptimConfig
from jaforge.train.optim import OPTIMIZERS, build_optimizer, hidden_matrices, newton_schulz_orthogonalize

torch.set_num_threads(1)

LR = {"adamw": 1e-2, "lion": 3e-3, "adafactor": 1e-2, "muon": 1e-2}


class Toy(torch.nn.Module):
    """A regression with an embedding, a hidden matrix and an output head (names as in the model)."""

    def __init__(self):
        super().__init__()
        self.tok_embeddings = torch.nn.Embedding(16, 8)
        self.hidden = torch.nn.Linear(8, 8)
        self.lm_head = torch.nn.Linear(8, 1, bias=False)

    def forward(self, ids):
        return self.lm_head(torch.tanh(self.hidden(self.tok_embeddings(ids)))).squeeze(-1)


def toy_loss(model: Toy) -> torch.Tensor:
    ids = torch.arange(16)
    return ((model(ids) - torch.linspace(-1, 1, 16)) ** 2).mean()


@pytest.mark.parametrize("name", ["adamw", "lion", "adafactor", "muon"])
def test_optimizer_lowers_the_loss(name):
    torch.manual_seed(0)
    model = Toy()
    opt = build_optimizer(model, OptimConfig(name=name, lr=LR[name], muon_lr=0.02, weight_decay=0.01))
    before = toy_loss(model).item()
    for _ in range(60):
        opt.zero_grad()
        toy_loss(model).backward()
        opt.step()
    assert toy_loss(model).item() < 0.5 * before


def test_at_least_three_optimizers_are_registered():
    assert {"adamw", "lion", "adafactor", "muon"} <= set(OPTIMIZERS.names())


def test_weight_decay_only_on_matrices_of_the_model():
    from jaforge.model import ModelConfig, Transformer

    model = Transformer(ModelConfig(vocab_size=64, n_layer=1, d_model=16, n_head=2, max_seq_len=8))
    opt = build_optimizer(model, OptimConfig(name="adamw", weight_decay=0.1))
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert id(model.tok_embeddings.weight) not in decayed
    assert all(id(p) not in decayed for n, p in model.named_parameters() if "norm" in n)
    assert id(model.blocks[0].attn.q_proj.weight) in decayed


def test_muon_orthogonalises_only_hidden_matrices():
    model = Toy()
    hidden = hidden_matrices(model)
    assert hidden == {id(model.hidden.weight)}
    x = newton_schulz_orthogonalize(torch.randn(8, 8))
    singular = torch.linalg.svdvals(x)
    assert singular.min() > 0.5 and singular.max() < 1.5  # NS5 lands near 1, not exactly


def test_unknown_optimizer_fails_with_known_names():
    with pytest.raises(KeyError, match="did you mean 'adamw'"):
        build_optimizer(Toy(), OptimConfig(name="adamv"))
