"""``minigrad.utils.viz.make_dot``: the DOT text of small graphs, checked structurally
(no Graphviz needed); rendering where the ``dot`` program is installed."""

from __future__ import annotations

import re
import shutil

import pytest

import minigrad as mg
from minigrad import nn
from minigrad.utils import viz
from minigrad.utils.steps import record_steps
from minigrad.utils.viz import GraphvizNotFoundError, make_dot

NODE = re.compile(r"^\s*(node\d+|leaf\d+|skip\d+) \[label=\"([^\"]*)\"", re.M)
EDGE = re.compile(r"^\s*(\w+) -> (\w+)", re.M)


def parse(dot):
    """``(labels by id, edges, clusters)`` of a DOT text: labels with real newlines,
    clusters as ``{"outer label / inner label": [labels of the nodes directly in it]}``."""
    labels = {i: lab.replace("\\n", "\n") for i, lab in NODE.findall(dot.source)}
    edges = EDGE.findall(dot.source)
    clusters, path = {}, []
    for line in dot.source.splitlines():
        if "subgraph cluster" in line:
            path.append(None)
        elif path and path[-1] is None and re.match(r"\s*label=", line):
            path[-1] = re.search(r'label="([^"]*)"', line).group(1)
            clusters.setdefault(" / ".join(path), [])
        elif path and (m := NODE.match(line)):
            clusters[" / ".join(path)].append(m.group(2).replace("\\n", "\n"))
        elif line.strip() == "}" and path:
            path.pop()
    return labels, edges, clusters


def ops(labels):
    return sorted(lab.split("\n")[0] for i, lab in labels.items() if i.startswith("node"))


# ----------------------------------------------------------------------------- basics
def test_small_graph_nodes_edges_and_labels():
    a = mg.randn(2, 3, dtype=mg.float64, requires_grad=True)
    b = mg.randn(2, 3, dtype=mg.float64, requires_grad=True)
    c = mg.randn(2, 3, dtype=mg.float64)  # a constant: not drawn
    loss = (a * b + c).sum()
    labels, edges, clusters = parse(make_dot(loss, params={"a": a, "b": b}))
    assert ops(labels) == ["Add", "Mul", "Sum"]
    leaves = sorted(lab for i, lab in labels.items() if i.startswith("leaf"))
    assert leaves == ["a\n(2, 3) float64", "b\n(2, 3) float64"]
    assert len(edges) == 4  # a -> Mul, b -> Mul, Mul -> Add, Add -> Sum
    assert "Mul\n(2, 3) float64" in labels.values() and "Sum\n() float64" in labels.values()
    assert clusters == {}


def test_unnamed_leaves_multi_outputs_and_several_roots():
    x = mg.randn(4, 2, requires_grad=True)
    first, second = x.chunk(2, dim=0)
    labels, edges, _ = parse(make_dot([first.exp(), second.tanh()]))
    assert ops(labels) == ["Exp", "Split", "Tanh"]
    split = next(lab for lab in labels.values() if lab.startswith("Split"))
    assert "out0: (2, 2) float32" in split and "out1: (2, 2) float32" in split
    assert "(4, 2) float32" in labels.values()  # the unnamed leaf: shape and dtype
    assert len(edges) == 3


def test_module_parameters_are_named():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    out = model(mg.randn(5, 3)).sum()
    labels, _, _ = parse(make_dot(out, params=dict(model.named_parameters())))
    names = sorted(lab.split("\n")[0] for i, lab in labels.items() if i.startswith("leaf"))
    assert names == ["0.bias", "0.weight", "2.bias", "2.weight"]


def test_show_saved_and_freed_nodes():
    x = mg.randn(3, requires_grad=True)
    y = (x.tanh() * x).sum()
    plain = make_dot(y).source
    saved = make_dot(y, show_saved=True).source
    assert "saved 0" not in plain and saved.count("saved 0") >= 2  # Tanh and Mul saved
    y.backward()  # frees the graph: the walk stops at freed nodes, which say so
    assert "(freed by backward)" in make_dot(y).source


def test_long_chain_is_walked_iteratively():
    x = mg.randn(2, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    labels, edges, _ = parse(make_dot(y.sum()))
    assert len(labels) == 5002 and len(edges) == 5001  # 5000 Mul + Sum + the leaf


def test_create_graph_graph():
    """The graph recorded by a create_graph backward is drawn like any other."""
    x = mg.randn(3, dtype=mg.float64, requires_grad=True)
    y = (x.tanh() ** 2).sum()
    (g,) = mg.autograd.grad(y, x, create_graph=True)
    labels, edges, _ = parse(make_dot(g, params={"x": x}))
    assert g.grad_fn is not None and len(ops(labels)) >= 3
    assert any(lab.startswith("x\n") for lab in labels.values())
    assert len(edges) >= len(labels) - 1  # connected


def test_bad_input():
    with pytest.raises(ValueError, match="no grad_fn"):
        make_dot(mg.randn(3))
    with pytest.raises(TypeError, match="Tensor"):
        make_dot([mg.randn(3, requires_grad=True).sum(), 3])
    y = mg.randn(3, requires_grad=True).sum()
    with pytest.raises(ValueError, match="max_timesteps"):
        make_dot(y, max_timesteps=0)
    with pytest.raises(ValueError, match="rankdir"):
        make_dot(y, rankdir="up")
    with pytest.raises(ValueError, match="format"):
        make_dot(y).render("graph.svg", format="pdf")


# ----------------------------------------------------------------------------- recurrent
def _recorded(module, T, B=2):
    x = mg.randn(B, T, module.input_size)
    with record_steps() as steps:
        out, _ = module(x)
    return out.sum(), steps


@pytest.mark.parametrize("cls, step_ops", [
    (nn.RNN, ["RNNStep"]),
    (nn.LSTM, ["LSTMStep"]),
    (nn.GRU, ["GRUStep"]),
])
def test_timestep_groups(cls, step_ops):
    """2 layers x 4 steps: one cluster per layer, one per timestep, each holding the
    step's two nodes; the shared nodes sit in the layer cluster."""
    module = cls(3, 5, num_layers=2)
    loss, steps = _recorded(module, T=4)
    dot = make_dot(loss, params=dict(module.named_parameters()), steps=steps)
    labels, edges, clusters = parse(dot)
    assert dot.source.count("label=\"t=") == 8
    assert f'label="{cls.__name__} layer 0"' in dot.source
    assert f'label="{cls.__name__} layer 1"' in dot.source
    for layer in range(2):
        for t in range(4):
            inner = clusters[f"{cls.__name__} layer {layer} / t={t}"]
            assert sorted(lab.split("\n")[0] for lab in inner) == step_ops
    layer0 = clusters[f"{cls.__name__} layer 0"]
    assert any(lab.startswith("Split") for lab in layer0)  # the per-step input slices
    assert any(lab.startswith("Transpose") for lab in layer0)  # W_hh^T, shared
    # every node is still there and connected
    ungrouped, _, _ = parse(make_dot(loss, params=dict(module.named_parameters())))
    assert len(labels) == len(ungrouped)


def test_bidirectional_and_named_module():
    model = nn.Sequential(nn.GRU(3, 4, bidirectional=True))
    loss, steps = _recorded(model[0], T=3)
    source = make_dot(loss, params=dict(model.named_parameters()), steps=steps).source
    assert 'label="0: GRU layer 0"' in source and 'label="0: GRU layer 0, reverse"' in source
    assert source.count('label="t=') == 6


@pytest.mark.parametrize("max_timesteps, kept", [(4, [0, 1, 8, 9]), (3, [0, 1, 9]), (1, [0]),
                                                 (10, list(range(10)))])
def test_max_timesteps_collapses_the_middle(max_timesteps, kept):
    module = nn.RNN(3, 4, num_layers=2)
    loss, steps = _recorded(module, T=10)
    full = parse(make_dot(loss, steps=steps))
    dot = make_dot(loss, steps=steps, max_timesteps=max_timesteps)
    labels, edges, clusters = parse(dot)
    times = sorted(int(t) for t in re.findall(r'label="t=(\d+)"', dot.source))
    assert times == sorted(kept * 2)  # the same steps of both layers
    n_hidden = 10 - len(kept)
    skips = [lab for i, lab in labels.items() if i.startswith("skip")]
    if n_hidden:
        first = next(t for t in range(10) if t not in kept)
        assert skips == [f"... {n_hidden} more steps (t={first}..{first + n_hidden - 1}) ..."] * 2
    else:
        assert skips == []
    # the node of each hidden step (RNNStep) and layer become one box per layer
    assert len(labels) == len(full[0]) - 2 * n_hidden + (2 if n_hidden else 0)
    ids = set(labels)
    assert all(a in ids and b in ids for a, b in edges)  # no edge to a hidden node
    assert 'label="t=' not in make_dot(loss, max_timesteps=4).source  # needs steps=


def test_fused_layers_are_one_node_each():
    module = nn.LSTM(3, 5, num_layers=2, bidirectional=True, fused=True)
    loss, steps = _recorded(module, T=6)
    assert len(steps) == 0 and len(steps.fused) == 4
    labels, _, clusters = parse(make_dot(loss, params=dict(module.named_parameters()),
                                         steps=steps))
    fused = sorted(lab for lab in labels.values() if lab.startswith("fused"))
    assert [lab.split("\n")[0] for lab in fused] == [
        "fused LSTM: layer 0, forward", "fused LSTM: layer 0, reverse",
        "fused LSTM: layer 1, forward", "fused LSTM: layer 1, reverse"]
    assert all("one node for all timesteps" in lab for lab in fused)
    assert clusters == {}


# ----------------------------------------------------------------------------- output
def test_save_writes_the_source(tmp_path):
    dot = make_dot(mg.randn(2, requires_grad=True).exp().sum())
    path = dot.save(tmp_path / "g.dot")
    assert open(path).read() == dot.source and dot.source.startswith("digraph")


def test_render_without_graphviz_names_the_install(monkeypatch, tmp_path):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    dot = make_dot(mg.randn(2, requires_grad=True).exp().sum())
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz"):
        dot.render(tmp_path / "g.svg")
    assert dot._repr_svg_() is None


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
@pytest.mark.parametrize("fmt, magic", [("svg", b"<svg"), ("png", b"\x89PNG")])
def test_render(tmp_path, fmt, magic):
    module = nn.RNN(2, 3, num_layers=2)
    loss, steps = _recorded(module, T=3)
    dot = make_dot(loss, params=dict(module.named_parameters()), steps=steps)
    path = dot.render(tmp_path / "rnn", format=fmt)
    assert path.endswith("." + fmt)
    with open(path, "rb") as f:
        head = f.read(4096)
    assert magic in head


def test_recurrent_edges_are_drawn_across():
    """The edges from step t-1 into step t are marked (red, not ranked)."""
    module = nn.LSTM(2, 3, num_layers=2, bidirectional=True)
    loss, steps = _recorded(module, T=4)
    source = make_dot(loss, steps=steps).source
    # 4 layer directions x 3 transitions: step t-1's node into step t's (one edge for
    # both h_{t-1} and c_{t-1}, which the same LSTMStep node makes and reads)
    assert source.count("constraint=false") == 4 * 3
    assert "constraint=false" not in make_dot(loss).source


def test_unrolled_graph_example(tmp_path, capsys):
    """examples/unrolled_graph.py, which makes the README's picture."""
    import importlib.util
    import sys
    from pathlib import Path

    examples = Path(__file__).resolve().parent.parent / "examples"
    sys.path.insert(0, str(examples))
    try:
        spec = importlib.util.spec_from_file_location("unrolled_graph",
                                                      examples / "unrolled_graph.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(examples))
    dot = module.build_graph("rnn", 2, 4)
    assert dot.source.count('label="t=') == 8 and "rnn: RNN layer 1" in dot.source
    assert "head.weight" in dot.source and "rnn.weight_hh_l0" in dot.source
    fused = module.build_graph("gru", 2, 4, fused=True).source
    assert fused.count("fused GRU: rnn layer") == 2 and 'label="t=' not in fused
    out = tmp_path / "pic"
    code = 0
    try:
        code = module.main(["--out", str(out)])
    except SystemExit as e:  # no Graphviz: a clean error exit, the DOT text is written
        code = e.code
    assert (tmp_path / "pic.dot").is_file()
    if shutil.which("dot") is not None:
        assert code == 0 and (tmp_path / "pic.svg").is_file()
    else:
        assert code == 2 and "apt-get install graphviz" in capsys.readouterr().err


def test_record_steps():
    """One RecordedStep per layer, direction and timestep; nesting; nothing outside."""
    module = nn.LSTM(2, 3, num_layers=2, bidirectional=True)
    x = mg.randn(2, 5, 2)
    with record_steps() as outer:
        module(x)
        with record_steps() as inner:
            module(x)
    module(x)  # outside: not recorded
    assert len(outer) == len(inner) == 2 * 2 * 5
    reverse = [s for s in outer if s.layer == 1 and s.direction == 1]
    assert [s.t for s in reverse] == [4, 3, 2, 1, 0]  # in execution order
    chosen = outer.select(module, layer=1, direction=1)
    assert [s.t for s in chosen] == [0, 1, 2, 3, 4]
    step = chosen[2]
    assert len(step.states) == len(step.previous) == 2 and step.states[0].shape == (2, 3)
    assert step.previous[0] is chosen[3].states[0]  # the reverse direction reads t+1
    assert outer.select(layer=5) == [] and outer.fused == []
