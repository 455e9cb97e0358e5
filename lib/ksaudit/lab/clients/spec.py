"""Client files (``--client FILE``, docs/lab.md "Clients"): reading and checking one, and
rendering its ``{placeholders}``.

A client file is a YAML mapping; unknown fields are an error and every bad field is one
line naming it (``lab: client file F: field 'logs[1].format': ...``), before the lab
makes anything.  Placeholders are ``{name}`` only, so shell syntax such as ``$(...)`` or
``${X}`` in a hook passes through untouched.
"""

import os
import re

import yaml

from ksaudit.errors import KsauditError
from ksaudit.lab import topology as topo
from ksaudit.oslogs.timeutil import get_zone

FIELDS = {"name", "server", "interface", "files", "env", "connect", "disconnect", "processes",
          "logs", "protection", "timeout_s"}
LOG_FIELDS = {"source", "file", "path", "journal", "format", "timezone", "stamp"}
SOURCES = ("stdout", "stderr", "path")
LAB_LOGS = ("journal.json", "probes.jsonl")       # the lab's own files in logs/
PLACEHOLDER = re.compile(r"\{([a-z0-9_]+)\}")
IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")


def _err(where, field, msg):
    return KsauditError(f"lab: client file {where}: field '{field}': {msg}")


def _str_list(doc, where, field, key=None):
    val = doc.get(key or field)
    if not isinstance(val, list) or not val or not all(isinstance(v, str) and v for v in val):
        raise _err(where, field, "must be a non-empty list of non-empty strings (argv)")
    if any("\0" in v for v in val):    # no argv can hold one (Popen: ValueError)
        raise _err(where, field, "an argument holds a NUL character")
    return val


def _str_map(doc, where, field, key=None):
    val = doc.get(key or field, {})
    if not isinstance(val, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                            for k, v in val.items()):
        raise _err(where, field, "must be a mapping of strings to strings")
    if any("\0" in k + v for k, v in val.items()):  # no file name or environment can
        raise _err(where, field, "holds a NUL character")
    return val


def load_spec(path, servers, label=None):
    """Read and check a client file; returns the checked spec (a dict).

    Parameters: path (the YAML file), servers ({protocol: server class}), label (the
    name used in messages; default the path).
    Raises: KsauditError, one line naming the file and the field at fault.
    """
    where = label or path
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except FileNotFoundError:
        raise KsauditError(f"lab: client file {where}: no such file (or give a client name)")
    except (OSError, UnicodeDecodeError) as exc:
        raise KsauditError(f"lab: client file {where}: cannot read: {exc}")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise KsauditError(f"lab: client file {where}: not valid YAML{at}")
    if not isinstance(doc, dict):
        raise KsauditError(f"lab: client file {where}: must be a mapping of fields")
    unknown = sorted(set(doc) - FIELDS)
    if unknown:
        raise _err(where, unknown[0], f"unknown (known: {', '.join(sorted(FIELDS))})")
    name = doc.get("name", os.path.splitext(os.path.basename(path))[0])
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name):
        raise _err(where, "name", "must be 1..40 letters, digits, '_', '.', '-'")
    server = doc.get("server")
    if server not in servers:
        raise _err(where, "server", f"must be one of {', '.join(servers)}, got {server!r}")
    timeout = doc.get("timeout_s", 20)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 120:
        raise _err(where, "timeout_s", f"must be a number 1..120, got {timeout!r}")
    spec = {"name": name, "server": server, "timeout_s": float(timeout),
            "interface": doc.get("interface", "{interface}"),
            "files": _str_map(doc, where, "files"), "env": _env(doc, where),
            "connect": _str_list(doc, where, "connect"),
            "disconnect": _str_list(doc, where, "disconnect"),
            "processes": _processes(doc, where), "logs": _logs(doc, where),
            "protection": _protection(doc, where)}
    if not isinstance(spec["interface"], str) or not ("{interface}" in spec["interface"]
                                                     or "{run_id}" in spec["interface"]):
        raise _err(where, "interface", "must contain {interface} or {run_id} (WireGuard "
                                       "sockets are global: names must differ per run)")
    if set(PLACEHOLDER.findall(spec["interface"])) - {"interface", "run_id"}:
        raise _err(where, "interface", "may use only {interface} (the lab's name) and {run_id}")
    _check_placeholders(spec, servers[server].PLACEHOLDERS, where)
    names = topo.Names("0" * 6)
    ifname = render(spec["interface"], {"run_id": names.run_id,
                                        "interface": servers[server].client_ifname_of(names)})
    if not IFNAME.fullmatch(ifname):
        raise _err(where, "interface", f"{ifname!r} (for run id {names.run_id}) is not an "
                                       "interface name (1..15 letters, digits, '_', '.', '-')")
    return spec


def _env(doc, where):
    """The environment for the commands: names as a shell takes them (a name with '='
    or an empty one is refused by Popen, after the lab was made)."""
    env = _str_map(doc, where, "env")
    for k in env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            raise _err(where, f"env.{k}", "must be a variable name (letters, digits, '_')")
    return env


def _processes(doc, where):
    procs = doc.get("processes")
    if not isinstance(procs, list) or not procs:
        raise _err(where, "processes", "must be a non-empty list of {name, cmdline}")
    out = []
    for i, p in enumerate(procs):
        field = f"processes[{i}]"
        if not isinstance(p, dict) or set(p) != {"name", "cmdline"} or not isinstance(p["name"], str) \
                or not p["name"]:
            raise _err(where, field, "must be {name: NAME, cmdline: [argv...]}")
        out.append({"name": p["name"], "cmdline": _str_list(p, where, f"{field}.cmdline", "cmdline")})
    return out


def _logs(doc, where):
    logs = doc.get("logs", [])
    if not isinstance(logs, list):
        raise _err(where, "logs", "must be a list")
    from ksaudit.oslogs.registry import formats
    known, out, files = formats(), [], set()
    for i, entry in enumerate(logs):
        field = f"logs[{i}]"
        if not isinstance(entry, dict):
            raise _err(where, field, "must be a mapping")
        extra = sorted(set(entry) - LOG_FIELDS)
        if extra:
            raise _err(where, f"{field}.{extra[0]}", f"unknown (known: {', '.join(sorted(LOG_FIELDS))})")
        source = entry.get("source")
        if source not in SOURCES:
            raise _err(where, f"{field}.source", f"must be one of {', '.join(SOURCES)}, got {source!r}")
        if source == "path" and not isinstance(entry.get("path"), str):
            raise _err(where, f"{field}.path", "a file the client writes (source: path) needs its path")
        if source != "path" and "path" in entry:
            raise _err(where, f"{field}.path", "only for source: path")
        if ("file" in entry) == ("journal" in entry) or (source == "path" and "journal" in entry):
            raise _err(where, field, "needs exactly one of file (under logs/) or journal "
                                     "(an identifier; stdout/stderr only)")
        if "journal" in entry and not (isinstance(entry["journal"], str)
                                       and re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", entry["journal"])):
            raise _err(where, f"{field}.journal", "must be a syslog identifier")
        if "file" in entry:
            fname = entry["file"]
            if not isinstance(fname, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", fname) \
                    or fname in LAB_LOGS or fname in files or fname.startswith("."):
                raise _err(where, f"{field}.file", f"must be a new plain file name under logs/ "
                                                   f"(not {', '.join(LAB_LOGS)}), got {fname!r}")
            files.add(fname)
            if entry.get("format") not in known:
                raise _err(where, f"{field}.format", f"must be a known log format ({', '.join(known)}), "
                                                     f"got {entry.get('format')!r}")
        elif "format" in entry:
            raise _err(where, f"{field}.format", "a journal identifier's lines are in journal.json")
        if entry.get("stamp", "iso") != "iso" or ("stamp" in entry and source == "path"):
            raise _err(where, f"{field}.stamp", "only 'iso' (each stdout/stderr line prefixed "
                                                "with its ISO 8601 read time, as `ts` does)")
        tz = entry.get("timezone", "UTC")
        if not isinstance(tz, str) or not tz:
            raise _err(where, f"{field}.timezone", "must be a zone name")
        try:
            get_zone(tz)     # now, not in the analysis after the whole run
        except KsauditError as exc:
            raise _err(where, f"{field}.timezone", str(exc)) from None
        out.append({**entry, "timezone": tz})
    for source in ("stdout", "stderr"):
        if sum(e["source"] == source for e in out) > 1:
            raise _err(where, "logs", f"{source} is declared twice")
    return out


def _protection(doc, where):
    prot = doc.get("protection")
    if prot is None:
        return None
    if not isinstance(prot, dict) or set(prot) - {"description", "placeholders"} \
            or not isinstance(prot.get("description"), str) or not prot["description"].strip():
        raise _err(where, "protection", "must be {description: TEXT, placeholders: {NAME: TEXT}}")
    return {"description": " ".join(prot["description"].split()),
            "placeholders": _str_map(prot, where, "protection.placeholders", "placeholders")}


def _check_placeholders(spec, server_names, where):
    """Every {name} used must be one the lab fills (or the protection's own)."""
    own = set(spec["protection"]["placeholders"]) if spec["protection"] else set()
    known = set(server_names) | {"interface", "run_id", "dir"} | own
    texts = [("interface", spec["interface"])]
    texts += [(f"files[{k!r}]", k) for k in spec["files"]] + [(f"files[{k!r}]", v)
                                                               for k, v in spec["files"].items()]
    texts += [(f"env.{k}", v) for k, v in spec["env"].items()]
    texts += [(f, a) for f in ("connect", "disconnect") for a in spec[f]]
    texts += [(f"processes[{i}].cmdline", a) for i, p in enumerate(spec["processes"]) for a in p["cmdline"]]
    texts += [(f"logs[{i}].path", e["path"]) for i, e in enumerate(spec["logs"]) if "path" in e]
    if spec["protection"]:
        texts += [(f"protection.placeholders.{k}", v) for k, v in spec["protection"]["placeholders"].items()]
    for field, text in texts:
        for name in PLACEHOLDER.findall(text):
            if field.startswith("protection.") and name in own:
                raise _err(where, field, f"{{{name}}} is a protection placeholder: they cannot "
                                         "use each other")
            if name not in known:
                raise _err(where, field, f"unknown placeholder {{{name}}} (known: "
                                         f"{', '.join(sorted(known))})")
    for k in spec["files"]:
        if "/" in k or k.startswith(".") or not k:
            raise _err(where, f"files[{k!r}]", "must be a plain file name (rendered into {dir})")
        if set(PLACEHOLDER.findall(k)) - {"interface", "run_id"}:
            # any other value ({dir}, a key, a protection text) may hold '/' or '..' and
            # would put the file outside {dir}
            raise _err(where, f"files[{k!r}]", "a file name may use only {interface} and {run_id}")


def render(text, values):
    """``text`` with every ``{name}`` replaced (names were checked by load_spec)."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
