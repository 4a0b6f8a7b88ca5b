"""nn.Module and containers: registration, names, state dicts, devices and dtypes,
modes, repr, hooks, and the gradient-clipping utilities."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils import clip_grad_norm_, clip_grad_value_


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(mg.ones(3))
        self.fc = nn.Linear(3, 2)
        self.register_buffer("steps", mg.zeros(1))
        self.register_buffer("cache", mg.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc(x * self.scale)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 3)
        self.block = Block()
        self.head = nn.Sequential(nn.Tanh(), nn.Linear(2, 4))

    def forward(self, idx):
        return self.head(self.block(self.emb(idx)))


PARAM_NAMES = ["emb.weight", "block.scale", "block.fc.weight", "block.fc.bias",
               "head.1.weight", "head.1.bias"]


# --- registration and names ----------------------------------------------------------


def test_registration_order_and_dotted_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == PARAM_NAMES
    assert [n for n, _ in net.named_buffers()] == ["block.steps", "block.cache"]
    assert [n for n, _ in net.named_children()] == ["emb", "block", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "emb", "block", "block.fc", "head",
                                                   "head.0", "head.1"]
    assert list(net.parameters())[1] is net.block.scale
    assert isinstance(net.block.scale, nn.Parameter) and net.block.scale.requires_grad
    assert [n for n, _ in net.block.named_parameters(recurse=False)] == ["scale"]
    assert net.num_parameters() == 15 + 3 + 6 + 2 + 8 + 4


def test_shared_parameter_is_listed_once():
    net = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    net[1].weight = net[0].weight  # tied weights
    names = [n for n, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.bias"]
    assert net.num_parameters() == 9 + 3 + 3
    assert list(net.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    shared = nn.Linear(2, 2)
    twice = nn.Sequential(shared, shared)
    assert [n for n, _ in twice.named_modules()] == ["", "0"]
    assert twice.num_parameters() == 6


def test_setattr_getattr_delattr():
    m = nn.Module()
    m.w = nn.Parameter(mg.zeros(2))
    m.sub = nn.Linear(1, 1)
    m.plain = 3
    assert "w" in m._parameters and "sub" in m._modules and m.plain == 3
    with pytest.raises(TypeError, match=r"cannot assign Tensor as parameter 'w' "
                                        r"\(nn.Parameter or None expected\)"):
        m.w = mg.zeros(2)
    m.w = None  # allowed: "no such parameter"
    assert list(m.named_parameters()) == [("sub.weight", m.sub.weight),
                                          ("sub.bias", m.sub.bias)]
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'sub'"):
        m.sub  # noqa: B018
    m.sub = nn.Parameter(mg.ones(1))  # a name moves between registries cleanly
    assert "sub" in m._parameters and "sub" not in m._modules


def test_assigning_before_super_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\) is called"):
        Broken()


def test_register_methods_validate():
    m = nn.Module()
    m.register_parameter("bias", None)
    assert m.bias is None
    with pytest.raises(TypeError, match="nn.Parameter or None expected"):
        m.register_parameter("w", mg.zeros(1))
    with pytest.raises(KeyError, match="contain no '.'"):
        m.register_buffer("a.b", mg.zeros(1))
    m.add_module("child", nn.ReLU())
    assert m.child.__class__ is nn.ReLU
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("x", 3)
    m.register_buffer("stat", mg.zeros(2))
    m.stat = mg.ones(2)  # reassigning a buffer keeps it registered
    assert m._buffers["stat"] is m.stat


def test_parameter_shares_data_and_rejects_integers():
    t = mg.randn(3)
    p = nn.Parameter(t)
    assert p.data is t.data and p.is_leaf and p.grad_fn is None
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert not nn.Parameter(mg.zeros(2), requires_grad=False).requires_grad
    with pytest.raises(RuntimeError, match="only floating point tensors"):
        nn.Parameter(mg.tensor([1, 2]))
    assert (p * 2).__class__ is mg.Tensor  # results of ops are plain Tensors


# --- state dict ----------------------------------------------------------------------


def test_state_dict_is_plain_arrays_and_a_snapshot():
    net = Net()
    sd = net.state_dict()
    # per module: its parameters, then its persistent buffers ('cache' is not), then
    # its children -- PyTorch's order
    assert list(sd) == PARAM_NAMES[:2] + ["block.steps"] + PARAM_NAMES[2:]
    assert all(type(v) is np.ndarray for v in sd.values())
    before = sd["block.fc.bias"].copy()
    net.block.fc.bias.data += 1
    np.testing.assert_array_equal(sd["block.fc.bias"], before)
    assert net.state_dict(keep_vars=True)["block.scale"] is net.block.scale


def test_state_dict_round_trip():
    mg.manual_seed(0)
    a, b = Net(), Net()
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy(), err_msg=name)
    idx = mg.tensor([[0, 4, 2]])
    np.testing.assert_array_equal(a(idx).numpy(), b(idx).numpy())


def test_load_casts_to_the_parameters_dtype_and_keeps_identity():
    layer = nn.Linear(2, 2)
    weight = layer.weight
    data = weight.data
    layer.load_state_dict({"weight": np.arange(4.0).reshape(2, 2),  # float64 in
                           "bias": mg.tensor([1.0, 2.0])})  # a Tensor works too
    assert layer.weight is weight and weight.data is data and weight.dtype == mg.float32
    np.testing.assert_array_equal(weight.numpy(), [[0, 1], [2, 3]])


def test_strict_load_lists_every_problem_and_changes_nothing():
    net = Net()
    before = {k: v.copy() for k, v in net.state_dict().items()}
    sd = net.state_dict()
    del sd["emb.weight"], sd["block.steps"]
    sd["block.fc.weight"] = np.zeros((5, 5))
    sd["extra.weight"] = np.zeros(1)
    sd["head.1.bias"] = np.full(4, 7.0)  # valid: must not be written either
    expected = (r"Error\(s\) in loading state_dict for Net:\n\t"
                r"Missing key\(s\) in state_dict: 'emb.weight', 'block.steps'\n\t"
                r"Unexpected key\(s\) in state_dict: 'extra.weight'\n\t"
                r"size mismatch for block.fc.weight: copying a param with shape \(5, 5\), "
                r"the shape in the current model is \(2, 3\)")
    with pytest.raises(RuntimeError, match=expected):
        net.load_state_dict(sd)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_non_strict_load_returns_keys_but_shape_mismatch_still_raises():
    net = Net()
    sd = net.state_dict()
    del sd["emb.weight"]
    sd["other"] = np.zeros(1)
    sd["head.1.bias"] = np.full(4, 7.0)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["emb.weight"] and unexpected == ["other"]
    np.testing.assert_array_equal(net.head[1].bias.numpy(), 7.0)
    sd["head.1.bias"] = np.zeros(3)
    with pytest.raises(RuntimeError, match=r"size mismatch for head.1.bias.*\(3,\).*\(4,\)"):
        net.load_state_dict(sd, strict=False)


# --- dtypes, devices, modes ----------------------------------------------------------


def test_double_float_to_keep_identity_and_convert_grads():
    net = Net()
    params = list(net.parameters())
    net(mg.tensor([[1, 2]])).sum().backward()
    assert net.double() is net
    assert all(a is b for a, b in zip(net.parameters(), params))
    assert all(p.dtype == mg.float64 and p.grad.dtype == mg.float64 for p in params)
    assert net.block.steps.dtype == mg.float64
    assert net.to(mg.float32) is net and all(p.dtype == mg.float32 for p in params)
    assert net.to("cpu") is net and net.cpu() is net and net.float() is net
    with pytest.raises(TypeError, match="only accepts floating dtypes"):
        net.to(mg.int64)


def test_cuda_without_gpu_is_a_clear_error():
    if mg.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
        nn.Linear(2, 2).cuda()


@pytest.mark.skipif(not mg.cuda.is_available(), reason="needs CuPy and a GPU")
def test_cuda_round_trip_keeps_identity():
    mg.manual_seed(0)
    net = Net()
    idx = mg.tensor([[0, 3, 4]])
    expected = net(idx).numpy()
    params = list(net.parameters())
    net.cuda()
    assert all(a is b for a, b in zip(net.parameters(), params))
    assert all(p.device == "cuda" for p in params)
    out = net(idx.cuda())
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5)
    out.sum().backward()
    assert all(p.grad.device == "cuda" for p in params)
    sd = net.state_dict()
    assert all(type(v) is not np.ndarray for v in sd.values())  # CuPy arrays on GPU
    net.cpu()
    assert all(p.device == "cpu" and p.grad.device == "cpu" for p in params)
    net.load_state_dict(sd)  # GPU arrays load into CPU parameters
    np.testing.assert_allclose(net(idx).numpy(), expected, rtol=1e-5)


def test_train_eval_propagate():
    net = Net()
    assert net.training and net.head[1].training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net and all(m.training for m in net.modules())
    net.block.train(False)
    assert net.training and not net.block.fc.training


def test_zero_grad_sets_none_and_apply_order():
    net = Net()
    net(mg.tensor([[1]])).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Embedding", "Linear", "Block", "Tanh", "Linear", "Sequential", "Net"]


def test_requires_grad_and_trainable_counts():
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    net[0].requires_grad_(False)
    assert net.num_parameters() == 11 and net.num_parameters(trainable_only=True) == 3


# --- printing, hooks, containers, copies ---------------------------------------------


def test_repr_like_pytorch():
    assert repr(Net()) == (
        "Net(\n"
        "  (emb): Embedding(5, 3)\n"
        "  (block): Block(\n"
        "    (fc): Linear(in_features=3, out_features=2, bias=True)\n"
        "  )\n"
        "  (head): Sequential(\n"
        "    (0): Tanh()\n"
        "    (1): Linear(in_features=2, out_features=4, bias=True)\n"
        "  )\n"
        ")")
    assert repr(nn.Linear(3, 4, bias=False)) == "Linear(in_features=3, out_features=4, bias=False)"
    assert repr(nn.Dropout(0.1)) == "Dropout(p=0.1)"
    assert repr(nn.LayerNorm(4)) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True)"
    assert repr(nn.CrossEntropyLoss(reduction="sum")) == "CrossEntropyLoss(reduction='sum')"


def test_forward_hook_and_remove():
    layer = nn.Linear(2, 2)
    calls = []
    handle = layer.register_forward_hook(lambda m, inputs, out: calls.append(
        (m, len(inputs), out.shape)))
    layer(mg.ones(4, 2))
    assert calls == [(layer, 1, (4, 2))]
    replace = layer.register_forward_hook(lambda m, inputs, out: out * 0)
    assert np.all(layer(mg.ones(1, 2)).numpy() == 0)  # a returned value replaces it
    handle.remove()
    replace.remove()
    layer(mg.ones(1, 2))
    assert len(calls) == 2


def test_sequential_and_module_list_and_dict():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and [n for n, _ in head.named_children()] == [
        "1", "2"]
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    seq.append(nn.Tanh())
    assert [type(m).__name__ for m in seq] == ["Linear", "Linear", "Tanh"]
    with pytest.raises(IndexError, match="index 5 is out of range for 3 modules"):
        seq[5]  # noqa: B018
    named = nn.Sequential({"enc": nn.Linear(2, 2), "act": nn.Tanh()})
    assert [n for n, _ in named.named_parameters()] == ["enc.weight", "enc.bias"]

    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers.append(nn.Linear(2, 1))
    assert len(layers) == 4 and layers[3].out_features == 1
    layers.insert(0, nn.ReLU())
    del layers[1]
    assert [n for n, _ in layers.named_children()] == ["0", "1", "2", "3"]
    assert len(list(layers.parameters())) == 6
    with pytest.raises(NotImplementedError, match="ModuleList has no forward"):
        layers(mg.ones(1))

    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    d["b"] = nn.Linear(1, 2)
    assert list(d.keys()) == ["a", "b"] and "b" in d and len(d) == 2
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias", "b.weight",
                                                    "b.bias"]
    d.pop("a")
    assert list(d) == ["b"]


def test_deepcopy_gives_an_independent_module():
    net = Net()
    clone = copy.deepcopy(net)
    assert isinstance(clone.block.scale, nn.Parameter)
    clone.block.scale.data += 1
    assert not np.array_equal(clone.block.scale.numpy(), net.block.scale.numpy())
    assert [n for n, _ in clone.named_parameters()] == PARAM_NAMES


# --- gradient clipping ---------------------------------------------------------------


def make_grads(*arrays, device="cpu"):
    params = []
    for a in arrays:
        p = nn.Parameter(mg.zeros(*np.shape(a), dtype=mg.float64, device=device))
        p.grad = mg.tensor(np.array(a, dtype=np.float64), device=device)
        params.append(p)
    return params


def test_clip_grad_norm_scales_and_returns_the_norm_before(device):
    params = make_grads([3.0, 0.0], [[4.0]], device=device)  # total 2-norm 5
    grads = [p.grad for p in params]
    total = clip_grad_norm_(params, max_norm=1.0)
    assert isinstance(total, mg.Tensor) and total.shape == () and total.item() == 5.0
    coef = 1.0 / (5.0 + 1e-6)  # PyTorch's formula
    np.testing.assert_allclose(params[0].grad.numpy(), [3 * coef, 0], rtol=1e-12)
    np.testing.assert_allclose(params[1].grad.numpy(), [[4 * coef]], rtol=1e-12)
    assert all(p.grad is g for p, g in zip(params, grads))  # in place
    small = make_grads([0.3, 0.4], device=device)
    assert clip_grad_norm_(small, max_norm=1.0).item() == pytest.approx(0.5)
    np.testing.assert_array_equal(small[0].grad.numpy(), [0.3, 0.4])  # below: unchanged


def test_clip_grad_norm_other_norms_and_edge_cases(device):
    params = make_grads([1.0, -7.0], [2.0], device=device)
    assert clip_grad_norm_(params, 100.0, norm_type=float("inf")).item() == 7.0
    params = make_grads([1.0, -2.0], [3.0], device=device)
    assert clip_grad_norm_(params, 100.0, norm_type=1).item() == 6.0
    no_grad = nn.Parameter(mg.zeros(2))
    assert clip_grad_norm_([no_grad], 1.0).item() == 0.0
    single = make_grads([6.0, 8.0])[0]
    assert nn.utils.clip_grad_norm_(single, 5.0).item() == 10.0  # a lone tensor works
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is"):
        clip_grad_norm_(make_grads([np.inf]), 1.0, error_if_nonfinite=True)


def test_clip_grad_value_and_model_usage(device):
    params = make_grads([-3.0, 0.5, 2.0], device=device)
    assert clip_grad_value_(params, 1.0) is None
    np.testing.assert_array_equal(params[0].grad.numpy(), [-1.0, 0.5, 1.0])
    net = Net()
    (net(mg.tensor([[1, 2, 3]])) * 100).sum().backward()
    before = nn.utils.clip_grad_norm_(net.parameters(), 0.5).item()
    after = np.sqrt(sum((p.grad.numpy().astype(np.float64) ** 2).sum()
                        for p in net.parameters()))
    assert before > 0.5 and after == pytest.approx(0.5, rel=1e-5)


# --- hooks: forward pre-hooks, forward hooks, full backward (pre-)hooks ----------------


class TwoInputs(nn.Module):
    """``a * w + b`` with a non-Tensor middle argument: grad_input is per positional arg."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(mg.tensor([2.0, 3.0]))

    def forward(self, a, scale, b):
        return a * self.w * scale + b


def test_forward_pre_hook_replaces_args_and_runs_in_order():
    layer = nn.Linear(2, 2)
    calls = []
    layer.register_forward_pre_hook(lambda m, args: calls.append("first"))
    layer.register_forward_pre_hook(lambda m, args: (calls.append("doubling"), args[0] * 2)[1])
    layer.register_forward_pre_hook(lambda m, args: calls.append("prepended"), prepend=True)
    seen = []
    layer.register_forward_hook(lambda m, args, out: seen.append(args[0].numpy()))
    x = mg.ones(1, 2)
    out = layer(x)
    assert calls == ["prepended", "first", "doubling"]
    np.testing.assert_array_equal(seen[0], [[2.0, 2.0]])  # forward saw the new args
    np.testing.assert_allclose(out.numpy(), layer.forward(x * 2).numpy())


def test_hooks_with_kwargs_and_always_call():
    module = TwoInputs()
    module.register_forward_pre_hook(
        lambda m, args, kwargs: (args, {**kwargs, "b": mg.tensor([10.0, 10.0])}),
        with_kwargs=True)
    outputs = []
    module.register_forward_hook(lambda m, args, kwargs, out: outputs.append(
        (len(args), sorted(kwargs))), with_kwargs=True)
    out = module(mg.ones(2), 1.0, b=mg.zeros(2))
    np.testing.assert_array_equal(out.numpy(), [12.0, 13.0])
    assert outputs == [(2, ["b"])]
    bad = nn.Linear(2, 2)
    bad.register_forward_pre_hook(lambda m, args, kwargs: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"forward pre-hook must return None or a tuple "
                                           r"of \(new_args, new_kwargs\), but got 5"):
        bad(mg.ones(1, 2))
    failing = nn.Linear(2, 2)
    ran = []
    failing.register_forward_hook(lambda m, args, out: ran.append("always"), always_call=True)
    failing.register_forward_hook(lambda m, args, out: ran.append("normal"))
    with pytest.raises(ValueError, match="does not match in_features"):
        failing(mg.ones(1, 3))
    assert ran == ["always"]


def test_full_backward_hook_sees_grads_and_replaces_grad_input():
    module = TwoInputs()
    seen = []

    def hook(m, grad_input, grad_output):
        seen.append((m, [None if g is None else g.numpy().copy() for g in grad_input],
                     [g.numpy().copy() for g in grad_output]))
        return (grad_input[0] * 10, None, grad_input[2])

    module.register_full_backward_hook(hook)
    a = mg.tensor([1.0, 1.0], requires_grad=True)
    b = mg.tensor([0.0, 0.0], requires_grad=True)
    (module(a, 0.5, b) * mg.tensor([1.0, 2.0])).sum().backward()
    (m, grad_input, grad_output), = seen
    assert m is module
    np.testing.assert_allclose(grad_output[0], [1.0, 2.0])
    np.testing.assert_allclose(grad_input[0], [1.0, 3.0])  # d/da = w * scale * g
    assert grad_input[1] is None  # not a Tensor
    np.testing.assert_allclose(grad_input[2], [1.0, 2.0])
    np.testing.assert_allclose(a.grad.numpy(), [10.0, 30.0])  # the replacement flowed on
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 2.0])
    np.testing.assert_allclose(module.w.grad.numpy(), [0.5, 1.0])  # parameters unaffected


def test_backward_hook_order_pre_hooks_and_removal():
    seq = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    order = []
    handles = []
    for name, layer in (("first", seq[0]), ("last", seq[2])):
        handles.append(layer.register_full_backward_pre_hook(
            lambda m, g, name=name: order.append(f"pre {name}")))
        handles.append(layer.register_full_backward_hook(
            lambda m, gi, go, name=name: order.append(f"full {name}")))
    # a pre-hook may replace grad_output: scale everything flowing into the last layer
    handles.append(seq[2].register_full_backward_pre_hook(lambda m, g: (g[0] * 0,)))
    x = mg.randn(5, 3, requires_grad=True)
    seq(x).sum().backward()
    assert order == ["pre last", "full last", "pre first", "full first"]
    np.testing.assert_array_equal(x.grad.numpy(), 0)
    assert seq[0].weight.grad is not None and np.all(seq[0].weight.grad.numpy() == 0)
    for handle in handles:
        handle.remove()
    order.clear()
    x.grad = None
    out = seq(x)
    assert out.grad_fn is not None and "Identity" not in type(out.grad_fn).__name__
    out.sum().backward()
    assert order == [] and np.any(x.grad.numpy() != 0)


def test_backward_hooks_fire_on_every_backward_with_retain_graph():
    layer = nn.Linear(2, 2)
    grads = []
    with layer.register_full_backward_hook(lambda m, gi, go: grads.append(gi[0].numpy())):
        x = mg.ones(1, 2, requires_grad=True)
        loss = layer(x).sum()
        loss.backward(retain_graph=True)
        loss.backward()
    assert len(grads) == 2
    np.testing.assert_allclose(grads[0], grads[1])
    np.testing.assert_allclose(x.grad.numpy(), 2 * grads[0])
    layer(x).sum().backward()  # removed on leaving the with block
    assert len(grads) == 2


def test_backward_hook_when_no_input_requires_grad():
    layer = nn.Linear(2, 2)
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go[0].shape)))
    with pytest.warns(UserWarning, match="no inputs require gradients"):
        layer(mg.ones(3, 2)).sum().backward()
    assert seen == [((None,), (3, 2))]
    layer.register_full_backward_hook(lambda m, gi, go: (mg.ones(3, 2),))
    with pytest.raises(RuntimeError, match="should always return None or None for all"), \
            pytest.warns(UserWarning, match="no inputs require gradients"):
        layer(mg.ones(3, 2)).sum().backward()


def test_backward_hook_wrong_number_of_grads():
    layer = nn.Linear(2, 2)
    layer.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="Backward hook returned an invalid number of "
                                           "grad_input, got 2, but expected 1"):
        layer(mg.ones(1, 2, requires_grad=True)).sum().backward()
    pre = nn.Linear(2, 2)
    pre.register_full_backward_pre_hook(lambda m, go: ())
    with pytest.raises(RuntimeError, match="Backward pre hook returned an invalid number of "
                                           "grad_output, got 0, but expected 1"):
        pre(mg.ones(1, 2, requires_grad=True)).sum().backward()
    with pytest.raises(TypeError, match="hook must be callable"):
        layer.register_forward_pre_hook("not a function")
    shaped = nn.Linear(2, 2)
    shaped.register_full_backward_hook(lambda m, gi, go: (gi[0][0],))
    with pytest.raises(RuntimeError, match=r"returned a grad_input\[0\] of shape \(2,\), "
                                           r"expected \(1, 2\)"):
        shaped(mg.ones(1, 2, requires_grad=True)).sum().backward()


def test_backward_hook_grad_output_is_none_for_an_unused_output():
    class Split(nn.Module):
        def forward(self, x):
            return x * 2, x * 3

    module = Split()
    seen = []
    module.register_full_backward_hook(lambda m, gi, go: seen.append(go))
    first, _ = module(mg.ones(2, requires_grad=True))
    first.sum().backward()
    (grad_first, grad_second), = seen
    np.testing.assert_array_equal(grad_first.numpy(), [1.0, 1.0])
    assert grad_second is None  # as PyTorch: that output got no gradient


def test_backward_hook_on_recurrent_layer_reads_grad_of_outputs():
    """The use the issue names: dL/d(output) of an RNN, per timestep, from a hook."""
    rnn = nn.RNN(3, 4)
    captured = {}
    rnn.register_full_backward_hook(lambda m, gi, go: captured.update(out=go[0], x=gi[0]))
    x = mg.randn(2, 5, 3, requires_grad=True)
    output, h_n = rnn(x)
    (output[:, -1].sum() + 0 * h_n.sum()).backward()
    per_step = captured["out"].numpy()
    assert per_step.shape == (2, 5, 4)
    np.testing.assert_array_equal(per_step[:, :-1], 0)
    np.testing.assert_array_equal(per_step[:, -1], 1)
    np.testing.assert_allclose(captured["x"].numpy(), x.grad.numpy())


# --- parameters_to_vector / vector_to_parameters ------------------------------------------


def test_parameters_to_vector_round_trip_and_gradient():
    from minigrad.nn.utils import parameters_to_vector, vector_to_parameters

    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1, bias=False))
    params = list(model.parameters())
    vec = parameters_to_vector(model.parameters())
    assert vec.shape == (3 * 2 + 2 + 2,)
    np.testing.assert_array_equal(vec.numpy(), np.concatenate([p.numpy().ravel()
                                                               for p in params]))
    (vec * mg.arange(10.0)).sum().backward()  # differentiable: each slice to its param
    np.testing.assert_array_equal(params[0].grad.numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(params[2].grad.numpy(), [[8.0, 9.0]])
    new = mg.arange(10, dtype=mg.float64)  # cast to each parameter's dtype
    vector_to_parameters(new, model.parameters())
    assert params[0].dtype == mg.float32 and params[0].grad_fn is None
    np.testing.assert_array_equal(params[1].numpy(), [6.0, 7.0])
    np.testing.assert_array_equal(parameters_to_vector(params).numpy(), np.arange(10.0))
    with pytest.raises(ValueError, match="vec has 9 elements, but the parameters have 10"):
        vector_to_parameters(mg.zeros(9), params)
    with pytest.raises(TypeError, match="expected a Tensor, but got: ndarray"):
        vector_to_parameters(np.zeros(10), params)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        parameters_to_vector(params[0])
    np.testing.assert_array_equal(params[1].numpy(), [6.0, 7.0])  # errors changed nothing
