"""State-dict helpers for wrapped models (re-exported from ``nn.utils``)."""

from __future__ import annotations

__all__ = ["consume_prefix_in_state_dict_if_present"]


def consume_prefix_in_state_dict_if_present(state_dict: dict, prefix: str) -> None:
    """Strip ``prefix`` from every key of ``state_dict`` that starts with it, in place
    (as PyTorch: stripped entries move to the end).  The usual call loads a checkpoint
    saved from ``DistributedDataParallel`` (keys ``module.xxx``) into the bare model::

        consume_prefix_in_state_dict_if_present(state, "module.")
        model.load_state_dict(state)
    """
    if not isinstance(state_dict, dict):
        raise TypeError(f"consume_prefix_in_state_dict_if_present: expected a dict, got "
                        f"{type(state_dict).__name__}")
    if not isinstance(prefix, str):
        raise TypeError(f"consume_prefix_in_state_dict_if_present: prefix must be a str, "
                        f"got {type(prefix).__name__}")
    for key in list(state_dict):
        if isinstance(key, str) and key.startswith(prefix):
            state_dict[key[len(prefix):]] = state_dict.pop(key)
