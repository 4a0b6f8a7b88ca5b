"""Train the character-level language model on several processes (data parallel).

    python -m minigrad.distributed.run -n 2 examples/ddp_char_rnn.py     # 2 ranks
    mpiexec -n 2 python -m mpi4py examples/ddp_char_rnn.py              # the same
    python examples/ddp_char_rnn.py                                     # 1 process

The model is char_rnn.py's (``models.CharLM``), trained here as a *stateful*
truncated-BPTT language model: the text is cut into ``--batch`` parallel streams, every
step reads the next ``--seq-len`` characters of each stream, and the hidden state
carries over from one step to the next (detached: gradients stop at the chunk).

With N ranks, each rank owns ``--batch / N`` of the streams -- a contiguous block of
rows (``dist.batch_rows``), the same rows at every step, so its hidden states stay its
own -- and ``DistributedDataParallel`` averages the gradients. The mean of the ranks'
mean losses is the mean over the whole batch, so N ranks take exactly the steps of one
process with the whole ``--batch``: the final line is the same (with ``--float64``, to
the last printed digit). ``--batch`` is the total over all ranks.

Only rank 0 shows the progress bar and prints; a checkpoint (``--save``) is written by
rank 0 alone while the others wait at a barrier, in char_rnn.py's format (the
``module.`` prefix that DDP adds to the parameter names is stripped).
"""

from __future__ import annotations

import math
import sys
import time

# _common comes before NumPy: it limits NumPy's threads (see _common.py)
from _common import (
    LossBar,
    fail,
    final_line,
    get_pyplot,
    make_parser,
    parse_args,
    plot_path,
    positive_int,
    save_loss_plot,
)

# isort: split
import numpy as np
from char_rnn import EMBED_DIM, read_text, zen_of_python

import minigrad as mg
import minigrad.distributed as dist
import minigrad.nn.functional as F
from minigrad import nn, optim
from minigrad.nn.parallel import DistributedDataParallel
from models import CharLM


def streams(data: np.ndarray, batch: int) -> np.ndarray:
    """The text as ``batch`` contiguous streams: row b is the b-th slice of it."""
    length = (len(data) - 1) // batch
    return np.stack([data[b * length:(b + 1) * length + 1] for b in range(batch)])


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def main(argv=None) -> int:
    parser = make_parser(__doc__, epochs=300, lr=3e-3, hidden=128,
                         epochs_help="training steps (one chunk of every stream each)")
    parser.add_argument("--text", metavar="FILE",
                        help="train on this UTF-8 text file (default: the Zen of Python)")
    parser.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm",
                        help="recurrent layer (default lstm)")
    parser.add_argument("--seq-len", type=positive_int, default=None,
                        help="characters per step and stream (default 24)")
    parser.add_argument("--batch", type=positive_int, default=None,
                        help="streams in all, over all ranks (default 8)")
    parser.add_argument("--float64", action="store_true",
                        help="compute in float64 (runs with different numbers of ranks "
                             "then agree to many digits)")
    parser.add_argument("--backend", choices=("mpi", "nccl"), default=None,
                        help="mpi (CPU, or GPU tensors staged through host memory) or nccl "
                             "(one GPU per rank); default: nccl with --device cuda when "
                             "NCCL is there, else mpi")
    parser.add_argument("--save", metavar="PATH",
                        help="write a checkpoint here at the end (rank 0)")
    args = parse_args(parser, argv, defaults={"seq_len": 24, "batch": 8},
                      quick={"epochs": 30, "hidden": 32, "seq_len": 16, "batch": 8})

    backend = args.backend or ("nccl" if args.device == "cuda" and dist.is_nccl_available()
                               else "mpi")
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.batch % world:
        fail(f"--batch {args.batch}: must be a multiple of the number of ranks ({world})")
    if args.float64:
        mg.set_default_dtype(mg.float64)
    say = print if rank == 0 else (lambda *a, **k: None)

    # ---- data: every rank reads the text; it trains on its own rows of the streams ---
    text = read_text(args.text) if args.text else zen_of_python()
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text], dtype=np.int64)
    if (len(data) - 1) // args.batch < 2:
        fail(f"--batch {args.batch}: the text ({len(data)} characters) is too short for "
             f"{args.batch} streams of at least 2 characters; use a smaller --batch")
    rows = streams(data, args.batch)[dist.batch_rows(args.batch)]  # (batch / world, L)
    seq_len = min(args.seq_len, rows.shape[1] - 1)
    chunks = (rows.shape[1] - 1) // seq_len  # steps per pass over the streams
    say(f"{world} rank(s) x {rows.shape[0]} of {args.batch} streams of "
        f"{rows.shape[1] - 1} characters; {chunks} steps of {seq_len} per pass")

    # ---- model: built on every rank; DDP copies rank 0's weights to the others -------
    model = CharLM(len(chars), embed_dim=EMBED_DIM, hidden_size=args.hidden, cell=args.cell,
                   fused=True).to(args.device)
    ddp = DistributedDataParallel(model)
    optimizer = optim.Adam(ddp.parameters(), lr=args.lr)  # unchanged: sees averaged grads

    # ---- training ---------------------------------------------------------------------
    bar = LossBar(total=args.epochs, desc=f"ddp_char_rnn ({world} ranks)") if rank == 0 \
        else None
    state, step_times = None, []
    for step in range(args.epochs):
        chunk = step % chunks
        if chunk == 0:
            state = None  # a new pass over the streams starts from a fresh state
        window = mg.tensor(rows[:, chunk * seq_len:(chunk + 1) * seq_len + 1],
                           device=args.device)
        inputs, targets = window[:, :-1], window[:, 1:]
        started = time.perf_counter()
        optimizer.zero_grad()
        logits, state = ddp(inputs, state)
        state = detach(state)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), targets.reshape(-1))
        loss.backward()  # DDP averages the gradients over the ranks during backward
        nn.utils.clip_grad_norm_(ddp.parameters(), 1.0)
        optimizer.step()
        step_times.append(time.perf_counter() - started)
        global_loss = loss.detach()
        dist.all_reduce(global_loss, op=dist.ReduceOp.AVG)  # the whole batch's mean loss
        if bar is not None:
            bar.update(global_loss.item())
    if bar is not None:
        bar.close()

    # ---- checkpoint: rank 0 writes, everyone waits until the file is complete -------
    if args.save:
        if rank == 0:
            state_dict = ddp.state_dict()
            nn.utils.consume_prefix_in_state_dict_if_present(state_dict, "module.")
            config = {"cell": args.cell, "hidden": args.hidden, "embed": EMBED_DIM,
                      "layers": 1}
            try:
                mg.save({"model": state_dict, "optimizer": optimizer.state_dict(),
                         "vocab": "".join(chars), "config": config, "epoch": args.epochs},
                        args.save)
            except OSError as e:
                fail(f"--save {args.save}: cannot write it ({e.strerror or e})")
            say(f"saved checkpoint {args.save} (rank 0)")
        dist.barrier()

    # ---- results (rank 0) -------------------------------------------------------------
    median_ms = 1000 * float(np.median(step_times[1:] or step_times))
    if rank == 0:
        model.eval()
        with mg.no_grad():
            ids = mg.tensor(data[None], device=args.device)
            logits, _ = model(ids[:, :-1])
            text_loss = F.cross_entropy(logits.reshape(-1, len(chars)), ids[0, 1:]).item()
        say(f"step time: median {median_ms:.1f} ms on {world} rank(s) ({backend})")
        plt = get_pyplot() if args.plot else None
        if plt is not None:
            save_loss_plot(plt, bar.losses, plot_path(args, "ddp_char_rnn_loss.png"),
                           f"CharLM ({args.cell}) on {world} rank(s): training loss")
        say(final_line(bar, f"text loss {text_loss:.4f}",
                       f"perplexity {math.exp(min(text_loss, 50)):.2f}"))
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
