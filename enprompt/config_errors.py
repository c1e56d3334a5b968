"""Merge a user's config files and ``KEY VALUE`` options, with errors that name the fix.

yacs, on which both engines' configs are built, reports a misspelt key as
``KeyError: Non-existent config key: OPTIM.MAX_EPOCHS`` (or an
``AssertionError`` from ``merge_from_list``), a value of the wrong type as
``ValueError: Type mismatch (<class 'int'> vs. <class 'str'>) ...``, a YAML
file indented with a tab as a ``ScannerError`` traceback, and merges an empty
file silently. Here every input is checked against the config first, so that
one :class:`ConfigError` says which key of which file (or of the command
line) is wrong, the closest valid keys, and, for a wrong type, the type
expected with a valid example::

    from enprompt.config_errors import merge_config_file, merge_opts

    merge_config_file(cfg, "configs/trainers/EnPrompt/x.yaml", flag="--config-file")
    merge_opts(cfg, ["OPTIM.MAX_EPOCH", "5"])

Standard library, PyYAML and yacs only (no PyTorch).
"""
import difflib
import os.path as osp

import yaml

from enprompt.errors import UserError

__all__ = ["ConfigError", "ConfigFileNotFound", "merge_config_file", "merge_opts", "config_keys"]

_MAX_SUGGESTIONS = 3


class ConfigError(UserError, ValueError):
    """A config file or option that cannot be merged; the message says which key and the fix."""


class ConfigFileNotFound(UserError, FileNotFoundError):
    """A config file named on the command line does not exist."""


# ---------------------------------------------------------------- keys
def _is_node(value):
    return isinstance(value, dict)  # yacs' CfgNode is a dict


def config_keys(cfg, prefix=""):
    """Every leaf key of ``cfg``, dotted (``OPTIM.MAX_EPOCH``), in the config's order."""
    keys = []
    for name, value in cfg.items():
        full = f"{prefix}{name}"
        if _is_node(value):
            keys.extend(config_keys(value, full + "."))
        else:
            keys.append(full)
    return keys


def _suggestions(cfg, full_key):
    """The valid keys closest to ``full_key`` (a case-insensitive match first)."""
    keys = config_keys(cfg)
    by_upper = {key.upper(): key for key in keys}
    found = [by_upper[full_key.upper()]] if full_key.upper() in by_upper else []
    # Compare the last parts too: OPTIM.MAX_EPOCHS -> OPTIM.MAX_EPOCH, TRAIN.MAX_EPOCH -> OPTIM.MAX_EPOCH
    close = difflib.get_close_matches(full_key, keys, n=_MAX_SUGGESTIONS, cutoff=0.75)
    leaf = full_key.rsplit(".", 1)[-1]
    leaves = {}
    for key in keys:
        leaves.setdefault(key.rsplit(".", 1)[-1], []).append(key)
    for name in difflib.get_close_matches(leaf, list(leaves), n=_MAX_SUGGESTIONS, cutoff=0.8):
        close.extend(leaves[name])
    for key in close:
        if key not in found:
            found.append(key)
    return found[:_MAX_SUGGESTIONS]


def _unknown_key_message(cfg, full_key):
    found = _suggestions(cfg, full_key)
    if found:
        return (f"unknown config key {full_key}. Did you mean {found[0]}?"
                + (f" (other close keys: {', '.join(found[1:])})" if found[1:] else ""))
    parts = full_key.split(".")
    node, known = cfg, []
    for part in parts[:-1]:
        if part not in node or not _is_node(node[part]):
            break
        node, known = node[part], known + [part]
    where = ".".join(known) or "the config"
    names = ", ".join(sorted(node))
    return f"unknown config key {full_key}, and no valid key is close to it. The keys of {where} are: {names}"


# ---------------------------------------------------------------- types
_TYPE_NAMES = {
    bool: "a boolean (True or False, capitalised)",
    int: "an integer",
    float: "a number with a decimal point (1.0, not 1)",
    str: "a string",
    tuple: "a list of values",
    list: "a list of values",
}


def _described(value):
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (tuple, list)):
        return "a list"
    return {int: "an integer", float: "a float"}.get(type(value), type(value).__name__)


def _example(value, kind):
    """A valid value of the type of ``value`` as written on the command line or in YAML."""
    if isinstance(value, bool):
        return "False" if not value else "True"
    if isinstance(value, str):
        text = value or "some_text"
        return text if kind == "option" else repr(text)
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return f"{value:.1f}"
    if isinstance(value, (tuple, list)):
        shown = list(value) if value else ["a", "b"]
        return f'"{shown}"' if kind == "option" else str(shown)
    return str(value)


def _check_value(node, name, value, full_key, kind):
    """``value`` coerced to the type of ``node[name]``, or a message saying what is expected."""
    from yacs.config import _check_and_coerce_cfg_value_type

    original = node[name]
    if _is_node(original) and not _is_node(value):
        first = next(iter(original), "KEY")
        return None, (f"{full_key} is a group of keys ({', '.join(list(original)[:6])}"
                      f"{', ...' if len(original) > 6 else ''}), not a value: set one of its keys, "
                      f"e.g. {full_key}.{first}")
    try:
        return _check_and_coerce_cfg_value_type(value, original, name, full_key), None
    except ValueError:
        pass
    expected = _TYPE_NAMES.get(type(original), type(original).__name__)
    shown = value
    if kind == "option":
        example = f"{full_key} {_example(original, kind)}"
    else:
        example = f"{name}: {_example(original, kind)}" + (
            f" (under {full_key.rsplit('.', 1)[0]}:)" if "." in full_key else "")
    hint = ""
    if isinstance(original, bool) and isinstance(value, str) and value.lower() in ("true", "false"):
        hint = f" ({value} in lower case is read as text)"
    return None, (f"{full_key} = {shown!r} is {_described(value)}, but {full_key} expects "
                  f"{expected}{hint}. A valid value: {example}")


def _check_tree(cfg, node, data, prefix, kind):
    """The first problem of merging the dict ``data`` into ``node`` (None: none)."""
    for name, value in data.items():
        full_key = f"{prefix}{name}"
        if name not in node:
            if node.is_new_allowed():
                continue
            if cfg.key_is_deprecated(full_key) or cfg.key_is_renamed(full_key):
                continue  # yacs' own message for those
            while isinstance(value, dict) and value:  # a misspelt group: name its first key
                name, value = next(iter(value.items()))
                full_key = f"{full_key}.{name}"
            return _unknown_key_message(cfg, full_key)
        if _is_node(node[name]) and isinstance(value, dict):
            problem = _check_tree(cfg, node[name], value, full_key + ".", kind)
        else:
            _, problem = _check_value(node, name, cfg._decode_cfg_value(value), full_key, kind)
        if problem:
            return problem
    return None


# ---------------------------------------------------------------- files
def _yaml_error(path, error):
    mark = getattr(error, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error)
    if "'\\t'" in problem or "\t" in problem:
        fix = "YAML does not allow tabs; indent with spaces"
    else:
        fix = f"{problem} (it is not valid YAML: KEY: value lines, nested keys indented with spaces)"
    return ConfigError(f'Cannot read config file "{path}"{where}: {fix}.')


def merge_config_file(cfg, path, flag="--config-file"):
    """Merge the YAML file ``path`` into ``cfg`` (``flag`` names where it came from).

    Raises:
        ConfigFileNotFound: no such file.
        ConfigError: not valid YAML (a tab: "YAML does not allow tabs; indent with
            spaces", with the line), empty, not ``KEY: value`` pairs, an unknown
            key (with the closest valid ones) or a value of the wrong type (with
            the type expected and a valid example).
    """
    if not osp.isfile(path):
        raise ConfigFileNotFound(f'{flag} "{path}" does not exist')
    with open(path, "r") as f:
        text = f.read()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise _yaml_error(path, error) from None
    if data is None:
        raise ConfigError(
            f'{flag} "{path}" is empty: it sets no key, so the run would use the defaults alone '
            "(no trainer settings, an empty MODEL.BACKBONE.NAME). Give the file its KEY: value "
            "lines, point the flag to another file (e.g. configs/trainers/EnPrompt/*.yaml), or "
            "leave the flag out."
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f'Invalid config file "{path}": it holds {type(data).__name__} {data!r}, expected '
            "KEY: value lines (e.g. OPTIM:, then   MAX_EPOCH: 5 indented with spaces)"
        )
    problem = _check_tree(cfg, cfg, data, "", "file")
    if problem:
        raise ConfigError(f'Invalid config file "{path}": {problem}')
    try:
        cfg.merge_from_other_cfg(type(cfg)(data))
    except (KeyError, ValueError, AssertionError) as error:  # deprecated/renamed keys: yacs' message
        raise ConfigError(f'Invalid config file "{path}": {error}') from error


def merge_opts(cfg, opts, source="command-line option"):
    """Merge ``KEY VALUE`` pairs (train.py's trailing options) into ``cfg``.

    Raises:
        ConfigError: an odd number of items, an unknown key (with the closest
            valid ones) or a value of the wrong type (with the type expected
            and a valid example).
    """
    opts = list(opts or [])
    if len(opts) % 2:
        raise ConfigError(
            f"Invalid {source}s {opts}: options come in KEY VALUE pairs, and {opts[-1]!r} has no "
            "value (e.g. OPTIM.MAX_EPOCH 5)"
        )
    for full_key, raw in zip(opts[0::2], opts[1::2]):
        if cfg.key_is_deprecated(full_key) or cfg.key_is_renamed(full_key):
            continue
        node, parts = cfg, full_key.split(".")
        for part in parts[:-1]:
            if part not in node or not _is_node(node[part]):
                raise ConfigError(f"Invalid {source}: {_unknown_key_message(cfg, full_key)}")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(f"Invalid {source}: {_unknown_key_message(cfg, full_key)}")
        _, problem = _check_value(node, parts[-1], cfg._decode_cfg_value(raw), full_key, "option")
        if problem:
            raise ConfigError(f"Invalid {source}: {problem}")
    try:
        cfg.merge_from_list(opts)
    except (KeyError, ValueError, AssertionError) as error:
        raise ConfigError(f"Invalid {source}s {opts}: {error}") from error
