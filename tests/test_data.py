"""``mg.Generator`` and ``minigrad.utils.data``, as a specification: PyTorch's names,
behaviour and error messages.

* ``Generator``: seeding, state round trips, ``generator=`` in the random factories;
* datasets, ``random_split`` (PyTorch's rounding of fractions), samplers;
* ``default_collate`` / ``default_convert`` on nested structures;
* ``DataLoader``: batching, ``drop_last``, shuffling (reproducible, new each epoch),
  bad arguments;
* worker processes: the same batches in the same order as ``num_workers=0``, iterable
  datasets sharded with ``get_worker_info``, per-worker seeds, errors re-raised with
  the worker's traceback, ``timeout``, clean shutdown. Every test that starts
  processes runs under the ``deadline`` fixture (SIGALRM), so none can hang.
"""

from __future__ import annotations

import collections
import gc
import os
import random
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

WORKER_TEST_LIMIT = 60  # seconds: generous for a loaded 2-core machine


@pytest.fixture
def deadline():
    """Fail (instead of hanging) a test that runs longer than WORKER_TEST_LIMIT."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"test ran longer than {WORKER_TEST_LIMIT} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(WORKER_TEST_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def as_lists(batches) -> list:
    """Batches (Tensors, nested in lists/tuples/dicts) as plain Python values."""
    def convert(x):
        if isinstance(x, mg.Tensor):
            return (str(x.dtype), x.tolist())
        if isinstance(x, dict):
            return {k: convert(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [convert(v) for v in x]
        return x
    return [convert(b) for b in batches]


# ----------------------------------------------------------------- datasets used below
class Squares(Dataset):
    """Sample i: a dict with the int i, its float square and a small array."""

    def __init__(self, n: int = 23):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return {"i": i, "square": float(i * i), "row": np.full(3, i, dtype=np.float32)}


class Faulty(Dataset):
    """Sample 5 raises ``error`` (a ValueError by default)."""

    def __init__(self, error: Exception | None = None):
        self.error = error or ValueError("sample 5 is broken")

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise self.error
        return i


class Sleepy(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(30)
        return i


class SlowStart(Dataset):
    """Sample 0 takes a while, so worker 1's first batches arrive before worker 0's."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 0:
            time.sleep(0.3)
        return i


class Dies(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        os._exit(3)  # a worker that crashes without a Python exception


class Stream(IterableDataset):
    """0 .. n-1; in workers, worker k yields k, k + num_workers, ... (sharded)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self):
        return self.n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


class Unsharded(IterableDataset):
    """Says it has 2 samples, yields 4; every worker's copy yields all 4 (not sharded)."""

    def __len__(self):
        return 2

    def __iter__(self):
        return iter(range(4))


class WorkerReport(Dataset):
    """What each sample's worker knows: its id, seed and a draw from each stream."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        info = get_worker_info()
        return {"id": info.id, "num_workers": info.num_workers, "seed": info.seed,
                "mg": mg.rand(1).item(), "np": float(np.random.random()),
                "py": random.random(), "same_dataset": info.dataset is self}


def mark_worker(worker_id: int) -> None:
    get_worker_info().dataset.init_by = worker_id


class InitReport(Dataset):
    init_by = None

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return self.init_by


def failing_init(worker_id: int) -> None:
    raise RuntimeError(f"init of worker {worker_id} failed")


# =================================================================== mg.Generator
def test_generator_seeding_and_initial_seed():
    g = mg.Generator()
    assert g.device == "cpu"
    assert g.initial_seed() == 67280421310721  # a fresh torch.Generator's seed
    assert g.manual_seed(5) is g and g.initial_seed() == 5
    assert mg.Generator().manual_seed(-1).initial_seed() == 2**64 - 1  # as PyTorch
    assert (mg.randperm(20, generator=mg.Generator()).tolist()
            == mg.randperm(20, generator=mg.Generator()).tolist())
    fresh = g.seed()
    assert g.initial_seed() == fresh and 0 <= fresh < 2**64
    assert mg.Generator().seed() != mg.Generator().seed()


@pytest.mark.parametrize("as_what", ["tensor", "array", "bytes"])
def test_generator_state_round_trip(as_what):
    g = mg.Generator().manual_seed(11)
    mg.rand(3, generator=g)  # move away from the start
    state = g.get_state()
    assert isinstance(state, mg.Tensor) and state.dtype == np.uint8 and state.ndim == 1
    expected = mg.randn(4, generator=g).tolist()
    mg.randn(7, generator=g)
    saved = {"tensor": state, "array": state.numpy(), "bytes": state.numpy().tobytes()}
    assert g.set_state(saved[as_what]) is g
    assert mg.randn(4, generator=g).tolist() == expected
    assert g.initial_seed() == 11


@pytest.mark.parametrize("call, error, message", [
    (lambda g: g.manual_seed(1.5), TypeError, "expected an int seed, got float"),
    (lambda g: g.manual_seed(True), TypeError, "expected an int seed, got bool"),
    (lambda g: g.manual_seed(2**64), ValueError, r"out of range.*\[-2\*\*63, 2\*\*64 - 1\]"),
    (lambda g: g.set_state(np.zeros(45)), TypeError, "must be a uint8 tensor.*got float64"),
    (lambda g: g.set_state(mg.zeros(3, dtype=np.uint8)), RuntimeError,
     "expected an RNG state of 45 bytes.*got 3"),
])
def test_generator_bad_input_changes_nothing(call, error, message):
    g = mg.Generator().manual_seed(3)
    state = g.get_state().tolist()
    with pytest.raises(error, match=message):
        call(g)
    assert g.get_state().tolist() == state


def test_manual_seed_drives_the_default_generator():
    assert mg.manual_seed(123) is mg.default_generator
    assert mg.initial_seed() == 123
    first = (mg.randn(3).tolist(), mg.rand(2).tolist(), mg.randint(0, 9, (4,)).tolist(),
             mg.randperm(6).tolist(), mg.nn.Linear(2, 2).weight.tolist())
    mg.manual_seed(123)
    again = (mg.randn(3).tolist(), mg.rand(2).tolist(), mg.randint(0, 9, (4,)).tolist(),
             mg.randperm(6).tolist(), mg.nn.Linear(2, 2).weight.tolist())
    assert first == again
    state = mg.get_rng_state()
    after = mg.randn(5).tolist()
    mg.set_rng_state(state)
    assert mg.randn(5).tolist() == after
    seed = mg.seed()
    assert mg.initial_seed() == seed


@pytest.mark.parametrize("factory", [
    lambda g: mg.randn(2, 3, generator=g),
    lambda g: mg.rand(4, generator=g, dtype=mg.float64),
    lambda g: mg.randint(0, 100, (5,), generator=g),
    lambda g: mg.randperm(9, generator=g),
])
def test_factories_take_a_generator_and_leave_the_default_alone(factory):
    mg.manual_seed(0)
    untouched = mg.randn(3).tolist()
    mg.manual_seed(0)
    a = factory(mg.Generator().manual_seed(7)).tolist()
    b = factory(mg.Generator().manual_seed(7)).tolist()
    assert a == b
    assert mg.randn(3).tolist() == untouched


def test_generator_draws_the_same_numbers_on_every_device(device):
    def draws(where):
        g = mg.Generator(where).manual_seed(2)
        return (mg.randn(3, generator=g, device=where).tolist(),
                mg.randperm(5, generator=g, device=where).tolist())
    assert draws(device) == draws("cpu")
    if device == "cuda":
        with pytest.raises(RuntimeError, match="Expected a 'cuda' device type for generator "
                                               "but found 'cpu'"):
            mg.randn(2, generator=mg.Generator(), device="cuda")


def test_randperm():
    p = mg.randperm(50, generator=mg.Generator().manual_seed(1))
    assert p.dtype == mg.int64 and p.shape == (50,)
    assert sorted(p.tolist()) == list(range(50))
    assert mg.randperm(0).shape == (0,)
    assert mg.randperm(4, dtype=mg.float32).dtype == mg.float32


@pytest.mark.parametrize("call, error, message", [
    (lambda: mg.randperm(-1), RuntimeError, "n must be non-negative, got -1"),
    (lambda: mg.randperm(2.0), TypeError, "n must be an int, got float"),
    (lambda: mg.randn(2, generator=np.random.default_rng()), TypeError,
     "generator must be a minigrad.Generator, got Generator"),
    (lambda: mg.randperm(3, generator=42), TypeError, "minigrad.Generator, got int"),
])
def test_random_factories_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# =================================================================== datasets
def test_utils_data_is_reachable_from_the_package():
    assert mg.utils.data.DataLoader is DataLoader
    # DistributedSampler is exported lazily: importing the package pulls in no MPI
    code = ("import sys, minigrad.utils.data as d; assert 'mpi4py' not in sys.modules; "
            "assert d.DistributedSampler.__name__ == 'DistributedSampler'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_tensor_dataset():
    x, y = mg.arange(12).reshape(4, 3).float(), mg.arange(4)
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    xi, yi = ds[2]
    assert xi.tolist() == [6.0, 7.0, 8.0] and yi.item() == 2
    with pytest.raises(ValueError, match=r"Size mismatch between tensors.*sizes \[4, 3\]"):
        TensorDataset(x, mg.arange(3))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()


def test_subset_concat_chain_stack():
    base = list(range(10, 20))
    sub = Subset(base, [3, 0, 7])
    assert len(sub) == 3 and [sub[i] for i in range(3)] == [13, 10, 17]
    cat = ConcatDataset([range(3), range(10, 12), range(20, 24)])
    assert len(cat) == 9 and cat.cumulative_sizes == [3, 5, 9]
    assert [cat[i] for i in range(9)] == [0, 1, 2, 10, 11, 20, 21, 22, 23]
    assert cat[-1] == 23 and cat[-9] == 0
    assert len(Squares(2) + Squares(3)) == 5
    chain = Stream(3) + Stream(2)
    assert isinstance(chain, ChainDataset) and list(chain) == [0, 1, 2, 0, 1]
    assert len(chain) == 5
    assert StackDataset(range(3), "abc")[1] == (1, "b")
    assert StackDataset(x=range(3), y="abc")[2] == {"x": 2, "y": "c"}


@pytest.mark.parametrize("call, error, message", [
    (lambda: ConcatDataset([]), ValueError, "should not be an empty iterable"),
    (lambda: ConcatDataset([Stream(3)]), TypeError, "does not support IterableDataset"),
    (lambda: ConcatDataset([range(3)])[-4], ValueError, "should not exceed dataset length"),
    (lambda: ConcatDataset([range(3)])[3], IndexError, "index 3 is out of range.*length 3"),
    (lambda: StackDataset(range(3), range(4)), ValueError, r"lengths \[3, 4\]"),
    (lambda: StackDataset(range(3), y=range(3)), ValueError, "not both"),
    (lambda: StackDataset(), ValueError, "At least one dataset"),
])
def test_dataset_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("n, lengths, expected", [
    (10, [3, 7], [3, 7]),
    (10, [0.3, 0.3, 0.4], [3, 3, 4]),
    (11, [0.5, 0.5], [6, 5]),  # the remainder goes round-robin from the first split
    (7, [0.1, 0.2, 0.7], [1, 2, 4]),
    (5, [0.25, 0.25, 0.25, 0.25], [2, 1, 1, 1]),
])
def test_random_split_lengths(n, lengths, expected):
    parts = random_split(range(n), lengths, generator=mg.Generator().manual_seed(0))
    assert [len(p) for p in parts] == expected
    items = sorted(x for p in parts for x in (p[i] for i in range(len(p))))
    assert items == list(range(n))  # disjoint, and all of them


def test_random_split_is_reproducible():
    def split(g=None):
        return [p.indices for p in random_split(range(30), [10, 20], generator=g)]
    assert split(mg.Generator().manual_seed(4)) == split(mg.Generator().manual_seed(4))
    mg.manual_seed(9)
    first = split()
    mg.manual_seed(9)
    assert split() == first
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(2), [0.9, 0.1])


@pytest.mark.parametrize("lengths, message", [
    ([4, 4], r"Sum of input lengths does not equal the length of the input dataset.*"
             r"sum to 8, the dataset has 10"),
    ([1.2, -0.2], "Fraction at index 0 is not between 0 and 1"),
    ([0.5, 0.4], "non-negative counts or fractions summing to 1; got 0.5 at index 0"),
    ([12, -2], "got -2 at index 1"),
    ([], "lengths must not be empty"),
])
def test_random_split_bad_lengths(lengths, message):
    with pytest.raises(ValueError, match=message):
        random_split(range(10), lengths)


# =================================================================== samplers
def test_sequential_and_random_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    rs = RandomSampler(range(10), generator=mg.Generator().manual_seed(2))
    first, second = list(rs), list(rs)
    assert sorted(first) == sorted(second) == list(range(10)) and first != second
    assert len(rs) == 10
    assert list(RandomSampler(range(10), generator=mg.Generator().manual_seed(2))) == first
    long = list(RandomSampler(range(4), num_samples=10))  # chained permutations
    assert len(long) == 10 and sorted(long[:4]) == sorted(long[4:8]) == [0, 1, 2, 3]
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=50))
    assert len(drawn) == 50 and set(drawn) <= {0, 1, 2}
    mg.manual_seed(1)
    unseeded = list(RandomSampler(range(8)))
    mg.manual_seed(1)
    assert list(RandomSampler(range(8))) == unseeded
    subset = list(SubsetRandomSampler([10, 20, 30], generator=mg.Generator()))
    assert sorted(subset) == [10, 20, 30]


def test_weighted_random_sampler():
    w = WeightedRandomSampler([0.0, 1.0, 3.0], num_samples=200,
                              generator=mg.Generator().manual_seed(0))
    draws = list(w)
    assert len(draws) == len(w) == 200 and 0 not in draws
    assert draws.count(2) > draws.count(1)
    unique = list(WeightedRandomSampler([1, 1, 1, 1], 4, replacement=False))
    assert sorted(unique) == [0, 1, 2, 3]


@pytest.mark.parametrize("batch_size, drop_last, expected", [
    (3, False, [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]),
    (3, True, [[0, 1, 2], [3, 4, 5], [6, 7, 8]]),
    (5, True, [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]),
    (20, False, [list(range(10))]),
    (20, True, []),
])
def test_batch_sampler(batch_size, drop_last, expected):
    sampler = BatchSampler(SequentialSampler(range(10)), batch_size, drop_last)
    assert list(sampler) == expected and len(sampler) == len(expected)


@pytest.mark.parametrize("call, error, message", [
    (lambda: RandomSampler(range(3), replacement=1), TypeError,
     "replacement should be a boolean value, but got replacement=1"),
    (lambda: RandomSampler(range(0)), ValueError,
     "num_samples should be a positive integer value, but got num_samples=0"),
    (lambda: RandomSampler(range(3), num_samples=-2), ValueError, "num_samples=-2"),
    (lambda: RandomSampler(range(3), generator=1), TypeError, "minigrad.Generator or None"),
    (lambda: list(RandomSampler(range(0), num_samples=3)), ValueError,
     "cannot draw num_samples=3 from an empty data_source"),
    (lambda: WeightedRandomSampler([[1.0, 2.0]], 2), ValueError,
     r"weights should be a 1d sequence but given weights have shape \(1, 2\)"),
    (lambda: WeightedRandomSampler([1.0, -1.0], 2), ValueError, "finite and >= 0"),
    (lambda: WeightedRandomSampler([0.0, 0.0], 2), ValueError, "sum of probabilities <= 0"),
    (lambda: WeightedRandomSampler([1.0, 0.0, 1.0], 3, replacement=False), ValueError,
     "cannot sample num_samples=3 without replacement from 2 non-zero weights"),
    (lambda: WeightedRandomSampler([1.0], 0), ValueError, "num_samples=0"),
    (lambda: BatchSampler(range(3), 0, False), ValueError,
     "batch_size should be a positive integer value, but got batch_size=0"),
    (lambda: BatchSampler(range(3), True, False), ValueError, "batch_size=True"),
    (lambda: BatchSampler(range(3), 2, 0), ValueError,
     "drop_last should be a boolean value, but got drop_last=0"),
])
def test_sampler_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# =================================================================== collate
Point = collections.namedtuple("Point", ["x", "y"])


def _value(t):
    return (str(t.dtype), t.shape, t.tolist()) if isinstance(t, mg.Tensor) else t


@pytest.mark.parametrize("batch, expected", [
    ([1, 2, 3], ("int64", (3,), [1, 2, 3])),
    ([1.5, 2.0], ("float64", (2,), [1.5, 2.0])),  # Python floats: float64, as PyTorch
    ([True, False], ("bool", (2,), [True, False])),
    ([np.float32(1), np.float32(2)], ("float32", (2,), [1.0, 2.0])),
    ([np.int32(4)], ("int32", (1,), [4])),
    ([np.zeros(2, np.float16), np.ones(2, np.float16)],
     ("float16", (2, 2), [[0.0, 0.0], [1.0, 1.0]])),
    ([mg.tensor([1.0, 2.0]), mg.tensor([3.0, 4.0])],
     ("float32", (2, 2), [[1.0, 2.0], [3.0, 4.0]])),
    (["a", "b"], ["a", "b"]),
    ([b"a", b"b"], [b"a", b"b"]),
])
def test_default_collate_leaves(batch, expected):
    assert _value(default_collate(batch)) == expected


def test_default_collate_nested_structures():
    batch = [({"x": mg.tensor([0.0]), "name": "a"}, Point(1, 2.0), [3, "s"]),
             ({"x": mg.tensor([1.0]), "name": "b"}, Point(4, 5.0), [6, "t"])]
    mapping, point, listed = default_collate(batch)  # a tuple comes back as a list
    assert _value(mapping["x"]) == ("float32", (2, 1), [[0.0], [1.0]])
    assert mapping["name"] == ["a", "b"]
    assert isinstance(point, Point)
    assert _value(point.x) == ("int64", (2,), [1, 4])
    assert _value(point.y) == ("float64", (2,), [2.0, 5.0])
    assert _value(listed[0]) == ("int64", (2,), [3, 6]) and listed[1] == ["s", "t"]
    assert isinstance(default_collate([(1, 2), (3, 4)]), list)
    ordered = default_collate([collections.OrderedDict(a=1)] * 2)
    assert isinstance(ordered, collections.OrderedDict)


def test_default_collate_keeps_the_graph():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    default_collate([w * 2, w * 3]).sum().backward()
    assert w.grad.tolist() == [5.0, 5.0]


@pytest.mark.parametrize("batch, error, message", [
    ([mg.zeros(3), mg.zeros(4)], RuntimeError,
     r"stack expects each tensor to be equal size, but got \[3\] at entry 0 and \[4\] at "
     r"entry 1.*pad_sequence"),
    ([np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((3, 2))], RuntimeError,
     r"but got \[2, 3\] at entry 0 and \[3, 2\] at entry 2"),
    ([object()], TypeError, "batch must contain tensors, numpy arrays, numbers, dicts or "
                            "lists; found <class 'object'>"),
    ([np.array(["a"])], TypeError, "found <U1"),
    ([[1, 2], [1]], RuntimeError, "each element in list of batch should be of equal size: "
                                  "element 0 has 2 items, element 1 has 1"),
])
def test_default_collate_bad_batches(batch, error, message):
    with pytest.raises(error, match=message):
        default_collate(batch)


def test_default_convert():
    assert _value(default_convert(np.arange(3))) == ("int64", (3,), [0, 1, 2])
    converted = default_convert({"a": np.float32(1), "b": (np.zeros(1), "s"), "c": 7})
    assert _value(converted["a"]) == ("float32", (), 1.0)
    assert _value(converted["b"][0]) == ("float64", (1,), [0.0]) and converted["b"][1] == "s"
    assert converted["c"] == 7  # Python numbers are left alone, as PyTorch
    assert isinstance(default_convert(Point(np.ones(1), 2)), Point)
    words = np.array(["x"])
    assert default_convert(words) is words


# =================================================================== DataLoader
@pytest.mark.parametrize("n, batch_size, drop_last, sizes", [
    (10, 4, False, [4, 4, 2]),
    (10, 4, True, [4, 4]),
    (8, 4, True, [4, 4]),
    (3, 5, False, [3]),
    (3, 5, True, []),
])
def test_batching_and_len(n, batch_size, drop_last, sizes):
    ds = TensorDataset(mg.arange(n * 2).reshape(n, 2), mg.arange(n))
    loader = DataLoader(ds, batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(sizes) and [len(y) for _, y in batches] == sizes
    assert [v for _, y in batches for v in y.tolist()] == list(range(sum(sizes)))
    assert all(x.shape == (len(y), 2) and x.dtype == mg.int64 for x, y in batches)


def test_loader_collates_dict_samples():
    batch = next(iter(DataLoader(Squares(), batch_size=3)))
    assert _value(batch["i"]) == ("int64", (3,), [0, 1, 2])
    assert _value(batch["square"]) == ("float64", (3,), [0.0, 1.0, 4.0])
    assert batch["row"].shape == (3, 3) and batch["row"].dtype == mg.float32


def test_shuffle_is_reproducible_and_new_each_epoch():
    ds = TensorDataset(mg.arange(40))

    def epoch(loader):
        return [v for (b,) in loader for v in b.tolist()]

    loader = DataLoader(ds, batch_size=8, shuffle=True)
    mg.manual_seed(5)
    first, second = epoch(loader), epoch(loader)
    assert sorted(first) == sorted(second) == list(range(40))
    assert first != second and first != list(range(40))
    mg.manual_seed(5)
    assert [epoch(loader), epoch(loader)] == [first, second]

    def with_generator():
        g = mg.Generator().manual_seed(3)
        loader = DataLoader(ds, batch_size=8, shuffle=True, generator=g)
        return [epoch(loader), epoch(loader)]

    mg.manual_seed(0)
    a = with_generator()
    mg.manual_seed(1)  # the default generator does not matter with a generator
    assert with_generator() == a and a[0] != a[1]


def test_no_auto_batching_custom_samplers_and_collate():
    ds = Squares(5)
    single = list(DataLoader(ds, batch_size=None))
    assert len(single) == 5 and single[2]["i"] == 2  # converted, not batched
    assert isinstance(single[2]["row"], mg.Tensor) and single[2]["row"].shape == (3,)
    by_sampler = DataLoader(ds, batch_size=2, sampler=[4, 0, 2])
    assert [b["i"].tolist() for b in by_sampler] == [[4, 0], [2]]
    by_batches = DataLoader(ds, batch_sampler=[[3], [1, 4]])
    assert [b["i"].tolist() for b in by_batches] == [[3], [1, 4]] and len(by_batches) == 2
    ids = DataLoader(ds, batch_size=2, collate_fn=lambda samples: [s["i"] for s in samples])
    assert list(ids) == [[0, 1], [2, 3], [4]]


def test_iterable_dataset_in_the_main_process():
    loader = DataLoader(Stream(7), batch_size=3)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]] and len(loader) == 3
    dropped = DataLoader(Stream(7), batch_size=3, drop_last=True)
    assert [b.tolist() for b in dropped] == [[0, 1, 2], [3, 4, 5]] and len(dropped) == 2
    assert list(DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]  # ints stay ints


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(batch_size=0), ValueError,
     "batch_size should be a positive integer value, but got batch_size=0"),
    (dict(batch_size=-1), ValueError, "but got batch_size=-1"),
    (dict(num_workers=-1), ValueError, "num_workers option should be non-negative"),
    (dict(num_workers=1.5), TypeError, "num_workers should be an int, got float"),
    (dict(shuffle=True, sampler=[0]), ValueError,
     "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), ValueError,
     "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and "
     "drop_last"),
    (dict(batch_sampler=[[0]], drop_last=True), ValueError, "mutually exclusive"),
    (dict(batch_sampler=[[0]], shuffle=True), ValueError, "mutually exclusive"),
    (dict(batch_size=None, drop_last=True), ValueError,
     "batch_size=None option disables auto-batching and is mutually exclusive with "
     "drop_last"),
    (dict(drop_last=1), ValueError, "drop_last should be a boolean value"),
    (dict(timeout=-1), ValueError, "timeout option should be non-negative"),
    (dict(timeout=5), ValueError, "timeout option needs num_workers > 0"),
    (dict(prefetch_factor=2), ValueError,
     "prefetch_factor option could only be specified in multiprocessing"),
    (dict(num_workers=1, prefetch_factor=0), ValueError, "prefetch_factor option should be "
                                                         "positive"),
    (dict(persistent_workers=True), ValueError,
     "persistent_workers option needs num_workers > 0"),
    (dict(multiprocessing_context="spawn"), ValueError,
     "multiprocessing_context can only be used with multi-process loading"),
    (dict(num_workers=1, multiprocessing_context="nope"), ValueError,
     "should specify a valid start method in .*multiprocessing_context='nope'"),
    (dict(num_workers=1, multiprocessing_context=3), TypeError,
     "should be a valid context object"),
    (dict(generator=np.random.default_rng()), TypeError,
     "generator must be a minigrad.Generator or None, got Generator"),
])
def test_loader_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        DataLoader(Squares(4), **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(shuffle=True), "expected unspecified shuffle option, but got shuffle=True"),
    (dict(sampler=[0]), "expected unspecified sampler option"),
    (dict(batch_sampler=[[0]]), "expected unspecified batch_sampler option"),
])
def test_loader_bad_arguments_for_iterable_datasets(kwargs, message):
    with pytest.raises(ValueError, match=f"DataLoader with IterableDataset: {message}"):
        DataLoader(Stream(3), **kwargs)


def test_loader_settings_are_frozen_and_unsized_streams_have_no_len():
    loader = DataLoader(Squares(4), batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after "
                                         "DataLoader is initialized"):
        loader.batch_size = 3
    assert loader.batch_size == 2

    class Endless(IterableDataset):
        def __iter__(self):
            return iter(range(3))

    with pytest.raises(TypeError):
        len(DataLoader(Endless()))


def test_pin_memory_is_accepted_and_does_nothing():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = list(DataLoader(Squares(3), batch_size=2, pin_memory=True))
    assert as_lists(batches) == as_lists(DataLoader(Squares(3), batch_size=2))
    if not mg.cuda.is_available():  # PyTorch's warning without an accelerator
        assert any("'pin_memory' argument is set as true" in str(w.message) for w in caught)


# =================================================================== worker processes
# name: (loader options, options only the worker run gets)
LOADER_CASES = {
    "plain": (dict(batch_size=4), {}),
    "shuffled": (dict(batch_size=4, shuffle=True), {}),
    "drop_last": (dict(batch_size=5, shuffle=True, drop_last=True), {}),
    "no_batching": (dict(batch_size=None), {}),
    "prefetch_1": (dict(batch_size=3), dict(prefetch_factor=1)),
    "prefetch_8": (dict(batch_size=2, shuffle=True), dict(prefetch_factor=8)),
    "batch_sampler": (dict(batch_sampler=[[5, 1], [0], [22, 3, 7, 9]]), {}),
}


@pytest.mark.usefixtures("deadline")
@pytest.mark.parametrize("case", sorted(LOADER_CASES))
def test_workers_give_the_batches_of_the_main_process(case):
    options, worker_options = LOADER_CASES[case]

    def two_epochs(**more):
        loader = DataLoader(Squares(), generator=mg.Generator().manual_seed(8), **options,
                            **more)
        return [as_lists(loader), as_lists(loader)]

    expected = two_epochs()
    assert two_epochs(num_workers=2, **worker_options) == expected
    if options.get("shuffle"):
        assert expected[0] != expected[1]


@pytest.mark.usefixtures("deadline")
@pytest.mark.parametrize("options", [dict(persistent_workers=True),
                                     dict(multiprocessing_context="spawn")],
                         ids=["persistent", "spawn"])
def test_worker_variants_give_the_same_batches(options):
    ds = TensorDataset(mg.arange(30).reshape(10, 3).float(), mg.arange(10))
    reference = DataLoader(ds, batch_size=3, shuffle=True,
                           generator=mg.Generator().manual_seed(1))
    loader = DataLoader(ds, batch_size=3, shuffle=True, num_workers=2,
                        generator=mg.Generator().manual_seed(1), **options)
    for _ in range(2):
        got = list(loader)
        assert as_lists(got) == as_lists(reference)
        assert all(isinstance(t, mg.Tensor) for batch in got for t in batch)


@pytest.mark.usefixtures("deadline")
def test_batches_that_arrive_early_wait_for_their_turn():
    loader = DataLoader(SlowStart(), batch_size=1, num_workers=2)
    assert [b.item() for b in loader] == [0, 1, 2, 3, 4, 5]


@pytest.mark.usefixtures("deadline")
def test_break_then_next_epoch_with_persistent_workers():
    loader = DataLoader(TensorDataset(mg.arange(20)), batch_size=2, num_workers=2,
                        persistent_workers=True)
    for i, _ in enumerate(loader):
        if i == 2:
            break  # leaves batches in flight
    assert [b.tolist() for (b,) in loader] == [[2 * k, 2 * k + 1] for k in range(10)]


@pytest.mark.usefixtures("deadline")
def test_iterable_dataset_sharded_across_workers():
    loader = DataLoader(Stream(10), batch_size=3, num_workers=2)
    batches = [b.tolist() for b in loader]
    # worker 0 reads 0, 2, 4, ...; worker 1 reads 1, 3, ...; batches alternate
    assert batches == [[0, 2, 4], [1, 3, 5], [6, 8], [7, 9]]
    assert sorted(v for b in batches for v in b) == list(range(10))
    assert [b.tolist() for b in DataLoader(Stream(10), batch_size=3, num_workers=2,
                                           drop_last=True)] == [[0, 2, 4], [1, 3, 5]]


@pytest.mark.usefixtures("deadline")
@pytest.mark.parametrize("num_workers", [0, 2])
def test_iterable_dataset_that_yields_more_than_its_len_warns(num_workers):
    loader = DataLoader(Unsharded(), batch_size=None, num_workers=num_workers)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sorted(loader) == sorted(list(range(4)) * max(1, num_workers))  # len not asked
    assert len(loader) == 2
    with pytest.warns(UserWarning, match=r"Length of IterableDataset .* was reported to be 2 "
                                         r"\(when accessing len\(dataloader\)\), but \d+ "
                                         r"samples have been fetched") as caught:
        assert len(list(loader)) == 4 * max(1, num_workers)
    assert "but 3 samples" in str(caught[0].message)  # from the first one past len()
    hint = any("IterableDataset replica at each worker" in str(w.message) for w in caught)
    assert hint == (num_workers > 0)
    sharded = DataLoader(Stream(6), batch_size=None, num_workers=num_workers)
    assert len(sharded) == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sorted(sharded) == list(range(6))  # as many as len(): no warning


@pytest.mark.usefixtures("deadline")
def test_worker_info_seeds_and_init_fn():
    def run(generator_seed):
        loader = DataLoader(WorkerReport(), batch_size=None, num_workers=2,
                            generator=mg.Generator().manual_seed(generator_seed))
        return list(loader)

    samples = run(4)
    by_worker = {s["id"]: s for s in samples}
    assert [s["id"] for s in samples] == [0, 1, 0, 1, 0, 1]  # round-robin
    assert all(s["num_workers"] == 2 and s["same_dataset"] for s in samples)
    assert by_worker[1]["seed"] == by_worker[0]["seed"] + 1  # base_seed + worker_id
    for stream in ("mg", "np", "py"):  # each worker seeded differently, reproducibly
        assert by_worker[0][stream] != by_worker[1][stream]
    assert samples == run(4) and samples != run(5)
    assert get_worker_info() is None  # in the main process

    init = DataLoader(InitReport(), batch_size=2, num_workers=2, worker_init_fn=mark_worker)
    assert [b.tolist() for b in init] == [[0, 0], [1, 1]]


@pytest.mark.usefixtures("deadline")
@pytest.mark.parametrize("error, shown", [
    (ValueError("sample 5 is broken"), "sample 5 is broken"),
    (KeyError("missing key"), "missing key"),
])
def test_worker_exception_is_raised_with_its_traceback(error, shown):
    loader = DataLoader(Faulty(error), batch_size=2, num_workers=2)
    it = iter(loader)
    assert [next(it).tolist(), next(it).tolist()] == [[0, 1], [2, 3]]
    with pytest.raises(type(error)) as info:
        next(it)  # batch [4, 5]: worker 0
    message = str(info.value)
    assert message.startswith(f"Caught {type(error).__name__} in DataLoader worker process 0.")
    assert "Original Traceback (most recent call last):" in message
    assert "raise self.error" in message and shown in message
    assert next(it).tolist() == [6, 7]  # the other batches still arrive, as PyTorch
    del it, info


@pytest.mark.usefixtures("deadline")
def test_worker_init_fn_exception_and_dying_worker():
    loader = DataLoader(Squares(4), num_workers=1, worker_init_fn=failing_init)
    with pytest.raises(RuntimeError, match=r"(?s)Caught RuntimeError in DataLoader worker "
                                           r"process 0.*init of worker 0 failed"):
        list(loader)
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited "
                                           r"unexpectedly \(exit code\(s\) 3\)"):
        list(DataLoader(Dies(), num_workers=1))


def unpicklable_batch(samples):
    return (s for s in samples)  # a generator object cannot be pickled


@pytest.mark.usefixtures("deadline")
def test_a_batch_that_cannot_be_sent_is_reported_like_any_error():
    loader = DataLoader(Squares(4), batch_size=2, num_workers=1,
                        collate_fn=unpicklable_batch)
    with pytest.raises(TypeError, match=r"(?s)Caught TypeError in DataLoader worker "
                                        r"process 0.*cannot pickle 'generator' object"):
        next(iter(loader))


@pytest.mark.usefixtures("deadline")
def test_timeout():
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.3 seconds"):
        list(DataLoader(Sleepy(), num_workers=1, timeout=0.3))
    assert time.perf_counter() - start < 20  # did not wait for the 30 s sample


@pytest.mark.usefixtures("deadline")
def test_workers_shut_down_when_the_iterator_goes_away():
    loader = DataLoader(TensorDataset(mg.arange(400)), batch_size=2, num_workers=2)
    it = iter(loader)
    next(it)
    workers = list(it._workers)
    del it
    gc.collect()
    assert not any(w.is_alive() for w in workers)  # joined (no zombies), mid-epoch
    it = iter(loader)
    list(it)  # a finished epoch shuts its workers down at once
    assert not any(w.is_alive() for w in it._workers)
