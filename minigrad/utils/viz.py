"""Pictures of the autograd graph: the graph that ``backward()`` (BPTT) walks.

``make_dot(output, params=dict(model.named_parameters()))`` has torchviz's call shape
and returns a :class:`DotGraph`: its ``.source`` is Graphviz DOT text (no dependency);
``.save(path)`` writes it and ``.render(path)`` turns it into an SVG or PNG with the
Graphviz ``dot`` program when that is installed.

Every node shows its op, the shape and dtype of its output(s); leaves that require
grad show their parameter name (from ``params``), shape and dtype.  For recurrent
layers, record the forward with :func:`minigrad.utils.steps.record_steps` and pass the
record as ``steps=``: the nodes of each layer direction are grouped, and within it the
nodes of each timestep (``t=0``, ``t=1``, ...), so a short unrolled RNN reads like the
textbook picture::

    from minigrad.utils.steps import record_steps
    from minigrad.utils.viz import make_dot

    with record_steps() as steps:
        out, h_n = rnn(x)
    dot = make_dot(out.sum(), params=dict(rnn.named_parameters()), steps=steps,
                   max_timesteps=4)      # long sequences: the first 2 and last 2 steps
    dot.render("rnn.svg")

A fused layer (``fused=True``) is one node, labelled with its cell, layer and direction.
The graph of a ``backward(create_graph=True)`` (e.g. ``make_dot(x.grad)``) is drawn like
any other.  The walk is iterative (no recursion), so long sequences are fine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from ..nn.fused_rnn import FusedRecurrentLayer
from ..tensor import Tensor

__all__ = ["DotGraph", "GraphvizNotFoundError", "make_dot"]

_INSTALL_HINT = (
    "install the Graphviz program: `apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS) or `conda install graphviz`; `pip install graphviz` "
    "alone does not bring the `dot` program. The DOT text is available without it "
    "(.source, .save())")

_STYLE = {
    "op": 'shape=box, style="rounded,filled", fillcolor="#f4f4f4"',
    "leaf": 'shape=box, style=filled, fillcolor="#cfe8ff"',
    "output": 'shape=box, style="rounded,filled", fillcolor="#c8f0c8"',
    "fused": 'shape=box3d, style=filled, fillcolor="#ffe9b3"',
    "saved": 'shape=box, style="filled,dashed", fillcolor="#ffd9b3", fontsize=10',
    "collapsed": 'shape=note, style=filled, fillcolor="#eeeeee"',
    "recurrent": 'color="#c0392b", penwidth=1.6, constraint=false',
}


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz ``dot`` program is not on PATH (``render`` needs it)."""


class DotGraph:
    """A graph picture as DOT text: ``.source``, ``.save(path)``, ``.render(path)``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __repr__(self) -> str:
        return f"<DotGraph: {self.source.count(' -> ')} edges>"

    def save(self, path: str | os.PathLike) -> str:
        """Write the DOT text to ``path``; returns the path."""
        path = os.fspath(path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.source)
        return path

    def render(self, path: str | os.PathLike, format: str | None = None,  # noqa: A002
               timeout: float = 120) -> str:
        """Draw the graph with Graphviz ``dot`` into ``path``; returns the path.

        ``format``: ``'svg'`` or ``'png'`` (default: from ``path``'s extension, else
        svg, which is then appended).  Raises :class:`GraphvizNotFoundError` naming the
        install command when ``dot`` is not installed.
        """
        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lstrip(".").lower()
        if format is None:
            format = ext if ext in ("svg", "png") else "svg"  # noqa: A001
        if format not in ("svg", "png"):
            raise ValueError(f"render: format must be 'svg' or 'png', got {format!r}")
        if ext != format:
            path = f"{path}.{format}"
        dot = shutil.which("dot")
        if dot is None:
            raise GraphvizNotFoundError(f"render: Graphviz `dot` was not found on PATH; "
                                        f"{_INSTALL_HINT}")
        result = subprocess.run([dot, f"-T{format}", "-o", path], input=self.source.encode(),
                                capture_output=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"render: dot failed ({result.returncode}): "
                               f"{result.stderr.decode(errors='replace').strip()}")
        return path

    def _repr_svg_(self):  # notebooks: an inline picture when Graphviz is there
        dot = shutil.which("dot")
        if dot is None:
            return None
        result = subprocess.run([dot, "-Tsvg"], input=self.source.encode(),
                                capture_output=True, timeout=120, check=False)
        return result.stdout.decode() if result.returncode == 0 else None


# ----------------------------------------------------------------------------- helpers
def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _describe(shape, dtype) -> str:
    return f"{tuple(shape)} {dtype}"


def _op_name(node) -> str:
    name = type(node).__name__
    return name[:-8] if name.endswith("Backward") else name


_LAYER_NAME = re.compile(r"^(?:(.*)\.)?weight_ih_l(\d+)(_reverse)?$")


def _fused_label(node, names: Mapping[int, str]) -> str:
    """What a fused recurrent node stands for: cell, layer, direction, steps."""
    cell = getattr(node, "cell", "rnn").upper()
    reverse = getattr(node, "reverse", False)
    where = "reverse" if reverse else "forward"
    layer = ""
    for t in node.inputs or ():
        match = _LAYER_NAME.match(names.get(id(t), ""))
        if match:
            prefix, k = match.group(1), match.group(2)
            layer = f"{prefix + ' ' if prefix else ''}layer {k}, "
            break
    return f"fused {cell}: {layer}{where}\none node for all timesteps"


def _walk(roots: Sequence[Tensor]):
    """Iterative walk from the roots' grad_fns through ``node.inputs``.

    Returns ``(nodes, leaves, edges, shapes)``: nodes in discovery order, leaf Tensors
    (requiring grad) in discovery order, edges ``(source, target)`` where a source is a
    node or a leaf and the target a node, and ``shapes[node][output_nr] = (shape, dtype)``.
    """
    nodes, leaves, edges = [], [], []
    seen_nodes, seen_leaves = set(), set()
    shapes: dict = {}
    stack = []

    def see(t: Tensor):
        node = t.grad_fn
        shapes.setdefault(node, {})[t._output_nr] = (t.shape, t.dtype)
        if node not in seen_nodes:
            seen_nodes.add(node)
            nodes.append(node)
            stack.append(node)

    for r in roots:
        if r.grad_fn is not None:
            see(r)
    while stack:
        node = stack.pop()
        for t in node.inputs or ():  # None: freed by a backward without retain_graph
            if t.grad_fn is not None:
                see(t)
                edges.append((t.grad_fn, node))
            elif t.requires_grad:
                if id(t) not in seen_leaves:
                    seen_leaves.add(id(t))
                    leaves.append(t)
                edges.append((t, node))
    return nodes, leaves, edges, shapes


def _step_groups(nodes, steps):
    """``{node: (group key, t)}`` for the nodes each recorded step created (``t=None``
    for the nodes the steps of a layer direction share: the split of the input
    projection, the transposed ``W_hh``), and ``{group key: (module, layer, direction)}``.

    A step's nodes are those reachable from its new states without passing through
    what the step read (its input projection, previous states, shared constants)."""
    node_set = set(nodes)
    owner: dict = {}
    groups: dict = {}
    for s in steps:
        key = (id(s.module), s.layer, s.direction)
        groups.setdefault(key, (s.module, s.layer, s.direction))
        for shared in (s.step_input, *s.constants):
            if shared.grad_fn in node_set:
                owner.setdefault(shared.grad_fn, (key, None))
        stop = {t.grad_fn for t in (s.step_input, *s.previous, *s.constants)}
        stack = [t.grad_fn for t in s.states if t.grad_fn is not None]
        while stack:
            node = stack.pop()
            if node in stop or owner.get(node, (0, None))[1] is not None or (
                    node not in node_set):
                continue
            owner[node] = (key, s.t)
            stack.extend(t.grad_fn for t in node.inputs or () if t.grad_fn is not None)
    return owner, groups


def _group_title(module, layer: int, direction: int, names: Mapping[int, str]) -> str:
    prefix = ""
    weight = getattr(module, f"weight_ih_l{layer}" + ("_reverse" if direction else ""), None)
    match = _LAYER_NAME.match(names.get(id(weight), "")) if weight is not None else None
    if match and match.group(1):
        prefix = match.group(1) + ": "
    kind = type(module).__name__
    where = ", reverse" if direction else ""
    return f"{prefix}{kind} layer {layer}{where}"


def _collapse(owner: dict, max_timesteps: int):
    """Which step nodes to hide behind a "... k more steps ..." box: for every layer
    direction with more than ``max_timesteps`` steps, all but the first
    ``ceil(max/2)`` and the last ``floor(max/2)``.  Returns ``({node: box id},
    {group key: (box id, label)})``."""
    times: dict = {}
    for key, t in owner.values():
        if t is not None:
            times.setdefault(key, set()).add(t)
    hidden, boxes = {}, {}
    for key, ts in times.items():
        ts = sorted(ts)
        if len(ts) <= max_timesteps:
            continue
        head = (max_timesteps + 1) // 2
        keep = set(ts[:head]) | set(ts[len(ts) - (max_timesteps - head):])
        dropped = [t for t in ts if t not in keep]
        box = f"skip{len(boxes)}"
        boxes[key] = (box, f"... {len(dropped)} more steps (t={dropped[0]}..{dropped[-1]}) ...")
        for node, (k, t) in owner.items():
            if k == key and t is not None and t not in keep:
                hidden[node] = box
    return hidden, boxes


# ----------------------------------------------------------------------------- make_dot
def make_dot(output, params: Mapping[str, Tensor] | None = None, show_saved: bool = False,
             *, steps=None, max_timesteps: int | None = None,
             rankdir: str = "BT") -> DotGraph:
    """The autograd graph that produced ``output``, as a :class:`DotGraph`.

    Args:
        output: a Tensor (or a sequence of Tensors) with a ``grad_fn``.
        params: ``{name: tensor}`` (e.g. ``dict(model.named_parameters())``) to label
            the leaves they contain by name.
        show_saved: also draw what each node saved for backward (dashed boxes).
        steps: a :class:`~minigrad.utils.steps.StepRecord` of the forward: groups the
            nodes of every recurrent layer direction and timestep.
        max_timesteps: with ``steps``, draw at most this many timesteps per layer
            direction (the first ``ceil(n/2)`` and last ``floor(n/2)``); the rest
            become one "... k more steps ..." box.
        rankdir: Graphviz layout direction (``'BT'``: inputs at the bottom, loss on top).

    Returns:
        A :class:`DotGraph` (``.source``, ``.save``, ``.render``).
    """
    roots = [output] if isinstance(output, Tensor) else list(output)
    for i, r in enumerate(roots):
        if not isinstance(r, Tensor):
            raise TypeError(f"make_dot: expected a Tensor or a sequence of Tensors, got "
                            f"{type(r).__name__} at position {i}")
    if not any(r.grad_fn is not None for r in roots):
        raise ValueError("make_dot: the output has no grad_fn (nothing was recorded: "
                         "compute it from tensors that require grad, outside no_grad)")
    if max_timesteps is not None and (isinstance(max_timesteps, bool) or not isinstance(
            max_timesteps, int) or max_timesteps < 1):
        raise ValueError(f"make_dot: max_timesteps must be a positive int or None, got "
                         f"{max_timesteps!r}")
    if rankdir not in ("BT", "TB", "LR", "RL"):
        raise ValueError(f"make_dot: rankdir must be one of BT, TB, LR, RL, got {rankdir!r}")
    names = {id(t): name for name, t in (params or {}).items()}

    nodes, leaves, edges, shapes = _walk(roots)
    owner, groups = _step_groups(nodes, steps) if steps is not None else ({}, {})

    hidden, boxes = _collapse(owner, max_timesteps) if max_timesteps else ({}, {})

    ids: dict = {}

    def node_id(obj) -> str:
        if isinstance(obj, Tensor):
            return ids.setdefault(("leaf", id(obj)), f"leaf{len(ids)}")
        if obj in hidden:
            return hidden[obj]
        return ids.setdefault(obj, f"node{len(ids)}")

    root_nodes = {r.grad_fn for r in roots if r.grad_fn is not None}
    lines_of: dict = {}  # cluster key (None: top level) -> list of node lines
    clustered: dict = {}  # group key -> {t: [node lines]}

    def node_line(node) -> str:
        if isinstance(node, FusedRecurrentLayer) and node.inputs is not None:
            label, style = _fused_label(node, names), "fused"
        else:
            label, style = _op_name(node), "op"
        outs = shapes.get(node, {})
        if len(outs) == 1:
            label += "\n" + _describe(*next(iter(outs.values())))
        else:
            label += "".join(f"\nout{i}: {_describe(*outs[i])}" for i in sorted(outs))
        if node.inputs is None:
            label += "\n(freed by backward)"
        if node in root_nodes and style == "op":
            style = "output"
        return f"  {node_id(node)} [label={_quote(label)}, {_STYLE[style]}];"

    for node in nodes:
        if node in hidden:
            continue
        line = node_line(node)
        if node in owner:
            key, t = owner[node]
            clustered.setdefault(key, {}).setdefault(t, []).append(line)
        else:
            lines_of.setdefault(None, []).append(line)
    for leaf in leaves:
        name = names.get(id(leaf))
        label = _describe(leaf.shape, leaf.dtype) if name is None else \
            f"{name}\n{_describe(leaf.shape, leaf.dtype)}"
        lines_of.setdefault(None, []).append(
            f"  {node_id(leaf)} [label={_quote(label)}, {_STYLE['leaf']}];")

    out = [f"digraph {_quote('autograd')} {{",
           f"  graph [rankdir={rankdir}, fontname=Helvetica, fontsize=12, newrank=true];",
           "  node [fontname=Helvetica, fontsize=11];",
           "  edge [arrowsize=0.7];"]
    out += lines_of.get(None, [])
    for g, key in enumerate(sorted(clustered, key=lambda k: (k[1], k[2], k[0]))):
        module, layer, direction = groups[key]
        out.append(f"  subgraph cluster_layer{g} {{")
        out.append(f"    label={_quote(_group_title(module, layer, direction, names))}; "
                   'style="rounded"; color="#7a7a7a";')
        out += ["  " + line for line in clustered[key].get(None, [])]
        for t in sorted(t for t in clustered[key] if t is not None):
            out.append(f"    subgraph cluster_layer{g}_t{t} {{")
            out.append(f'      label="t={t}"; style="rounded,filled"; fillcolor="#fbfbe8"; '
                       'color="#c9c98f";')
            out += ["    " + line for line in clustered[key][t]]
            out.append("    }")
        if key in boxes:
            box, label = boxes[key]
            out.append(f"    {box} [label={_quote(label)}, {_STYLE['collapsed']}];")
        out.append("  }")
    seen_edges = set()
    for source, target in edges:
        a, b = node_id(source), node_id(target)
        if a == b or (a, b) in seen_edges:
            continue  # inside a collapsed box, or a duplicate after collapsing
        seen_edges.add((a, b))
        src, dst = owner.get(source), owner.get(target)
        if (src is not None and dst is not None and src[0] == dst[0]
                and None not in (src[1], dst[1]) and src[1] != dst[1]):
            # the recurrence h_{t-1} -> step t: drawn across, not ranked, so the steps
            # of a layer sit side by side as in the textbook picture
            out.append(f"  {a} -> {b} [{_STYLE['recurrent']}];")
        else:
            out.append(f"  {a} -> {b};")
    if show_saved:
        for node in nodes:
            if node in hidden:
                continue
            saved = node.saved if isinstance(node.saved, tuple) else ()
            for i, value in enumerate(saved):
                if not hasattr(value, "shape"):
                    continue
                sid = f"{node_id(node)}_saved{i}"
                label = f"saved {i}\n{_describe(value.shape, value.dtype)}"
                out.append(f"  {sid} [label={_quote(label)}, {_STYLE['saved']}];")
                out.append(f"  {sid} -> {node_id(node)} [style=dashed, arrowhead=none];")
    out.append("}")
    return DotGraph("\n".join(out) + "\n")
