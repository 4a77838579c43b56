"""Damage: which assets of a grid are out of service after a strike.

A :class:`Damage` is a frozen value holding the asset ids as given and boolean masks over the
grid's rows (buses, branches incl. transformers, generators, loads). A site id (``site:<name>``)
stands for every element at that site: its buses, every branch touching one of them, and the
generators and loads on them. A damaged bus takes its branches, generators and loads with it.
A link (``hvdc:<name>``, see ``Grid.links``) stands for its injections, and when any of them is
out (struck itself, through its bus or its site) all of them are: an HVDC line stops at both
converter stations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gridshield.errors import GridshieldError, ParseError, UnknownAssetError
from gridshield.grid.model import LINK_KINDS, Grid

#: Kinds of assets a damage may name (``kind:name``).
DAMAGE_KINDS = ("bus", "branch", "gen", "load", "site", *LINK_KINDS)


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Damage:
    """A set of damaged assets of one grid.

    Attributes
    ----------
    ids
        The asset ids as given (order kept, duplicates removed).
    bus_out, branch_out, gen_out, load_out
        Boolean masks over the grid's bus / branch / generator / load rows: True = out of
        service because of the damage (sites and damaged buses expanded to what they carry).
    n_bus, n_branch, n_gen, n_load
        Sizes of the grid the masks refer to.
    """

    ids: tuple[str, ...]
    bus_out: np.ndarray
    branch_out: np.ndarray
    gen_out: np.ndarray
    load_out: np.ndarray

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def none(cls, grid: Grid) -> Damage:
        """No damage: the intact grid."""
        return cls.from_ids(grid, ())

    @classmethod
    def from_ids(cls, grid: Grid, ids: Iterable[str] | str) -> Damage:
        """Damage from asset ids (``bus:7``, ``branch:12``, ``gen:2``, ``load:5``, ``site:S3``, ``hvdc:L1``).

        A comma-separated string is accepted too. Unknown ids raise :class:`UnknownAssetError`
        listing the closest known ids.
        """
        if isinstance(ids, str):
            ids = [s for s in (p.strip() for p in ids.split(",")) if s]
        nb, nl, ng, nd = len(grid.buses), len(grid.branches), len(grid.gens), len(grid.loads)
        bus_out = np.zeros(nb, bool)
        branch_out = np.zeros(nl, bool)
        gen_out = np.zeros(ng, bool)
        load_out = np.zeros(nd, bool)
        seen: list[str] = []
        for raw in ids:
            if not isinstance(raw, str):
                raise GridshieldError(f"damage: asset ids must be strings like 'branch:12', got {raw!r}")
            aid = raw.strip()
            if aid in seen:
                continue
            kind = aid.split(":", 1)[0] if ":" in aid else ""
            if kind not in DAMAGE_KINDS:
                raise UnknownAssetError(aid, _known_ids(grid), what="asset")
            if kind == "site":
                rows = grid.sites.get(aid[5:])
                if rows is None:
                    raise UnknownAssetError(aid, [f"site:{s}" for s in grid.sites], what="site")
                bus_out[rows] = True
            elif kind in LINK_KINDS:
                if aid not in grid.links:
                    raise UnknownAssetError(aid, list(grid.links), what="link")
                k = list(grid.links).index(aid)
                gen_out[grid.link_rows[k][0]] = True
                load_out[grid.link_rows[k][1]] = True
            else:
                table = grid.tables[kind]
                if aid not in table.index:
                    raise UnknownAssetError(aid, table.index, what=kind)
                row = table.index[aid]
                {"bus": bus_out, "branch": branch_out, "gen": gen_out, "load": load_out}[kind][row] = True
            seen.append(aid)
        # a damaged bus (or site) takes every branch touching it, its generators and loads
        br = grid.branches
        branch_out |= bus_out[br.from_bus] | bus_out[br.to_bus]
        gen_out |= bus_out[grid.gens.bus]
        load_out |= bus_out[grid.loads.bus]
        for gens, loads in grid.link_rows:  # a link stops when any of its injections is out
            if gen_out[gens].any() or load_out[loads].any():
                gen_out[gens] = True
                load_out[loads] = True
        return cls(tuple(seen), _ro(bus_out), _ro(branch_out), _ro(gen_out), _ro(load_out))

    @classmethod
    def from_file(cls, path: str | Path, grid: Grid) -> Damage:
        """Damage from a YAML or JSON file: ``{"damage": ["site:S3", "branch:12"]}`` or a plain list."""
        from gridshield.io import read_text_file

        p = Path(path)
        text = read_text_file(p, "damage file")
        try:
            if p.suffix.lower() == ".json":
                data: Any = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except json.JSONDecodeError as exc:
            raise ParseError(str(p), exc.lineno, f"invalid JSON: {exc.msg}") from None
        except Exception as exc:  # yaml.YAMLError
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ParseError(str(p), (mark.line + 1) if mark else None, f"invalid YAML: {problem}") from None
        if isinstance(data, dict):
            if "damage" not in data:
                raise ParseError(str(p), None, "expected a key 'damage' holding a list of asset ids")
            data = data["damage"]
        if data is None:
            data = []
        if isinstance(data, str):
            data = [data]
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise ParseError(str(p), None, "'damage' must be a list of asset ids such as ['site:S3', 'branch:12']")
        return cls.from_ids(grid, data)

    @classmethod
    def from_matpower(cls, grid: Grid) -> Damage:
        """Damage from PowerModelsRestoration-style ``bus_damage`` / ``branch_damage`` / ``gen_damage``
        (and ``load_damage``) tables of a MATPOWER case: rows aligned with the element table, first
        (or ``damaged``) column 1 = damaged."""
        ids: list[str] = []
        for kind, table in (("bus", grid.buses), ("branch", grid.branches), ("gen", grid.gens), ("load", grid.loads)):
            ext = grid.extra_tables.get(f"{kind}_damage")
            if ext is None:
                continue
            rows = getattr(ext, "rows", None)
            if rows is None:
                raise GridshieldError(f"mpc.{kind}_damage: expected a table, got {type(ext).__name__}")
            cols = tuple(getattr(ext, "columns", ()) or ())
            j = cols.index("damaged") if "damaged" in cols else 0
            if len(rows) != len(table):
                raise GridshieldError(
                    f"mpc.{kind}_damage has {len(rows)} rows but the case has {len(table)} {kind} rows; "
                    "give one row per element"
                )
            for i, r in enumerate(rows):
                try:
                    v = float(r[j])
                except (TypeError, ValueError, IndexError):
                    raise GridshieldError(
                        f"mpc.{kind}_damage row {i + 1}: 'damaged' must be 0 or 1, got {r!r}"
                    ) from None
                if v != 0:
                    ids.append(str(table.id[i]))
        return cls.from_ids(grid, ids)

    # -- views -------------------------------------------------------------------------------
    @property
    def is_empty(self) -> bool:
        """True when nothing is damaged."""
        return not (self.bus_out.any() or self.branch_out.any() or self.gen_out.any() or self.load_out.any())

    def union(self, other: Damage) -> Damage:
        """Both damages together."""
        ids = tuple(dict.fromkeys(self.ids + other.ids))
        return Damage(
            ids,
            _ro(self.bus_out | other.bus_out),
            _ro(self.branch_out | other.branch_out),
            _ro(self.gen_out | other.gen_out),
            _ro(self.load_out | other.load_out),
        )

    def expanded_ids(self, grid: Grid) -> dict[str, list[str]]:
        """Ids of every element out of service, by kind (sites expanded)."""
        return {
            "bus": grid.buses.id[self.bus_out].tolist(),
            "branch": grid.branches.id[self.branch_out].tolist(),
            "gen": grid.gens.id[self.gen_out].tolist(),
            "load": grid.loads.id[self.load_out].tolist(),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the ids as given and the counts of elements out."""
        return {
            "ids": list(self.ids),
            "buses_out": int(self.bus_out.sum()),
            "branches_out": int(self.branch_out.sum()),
            "gens_out": int(self.gen_out.sum()),
            "loads_out": int(self.load_out.sum()),
        }

    def __repr__(self) -> str:
        return f"Damage({list(self.ids)!r})"


def _known_ids(grid: Grid) -> list[str]:
    return grid.asset_ids()


def as_damage(grid: Grid, damage: Damage | Sequence[str] | str | None) -> Damage:
    """Coerce ``damage`` (a :class:`Damage`, a list of ids, a comma-separated string or None)."""
    if damage is None:
        return Damage.none(grid)
    if isinstance(damage, Damage):
        if damage.bus_out.shape[0] != len(grid.buses) or damage.branch_out.shape[0] != len(grid.branches):
            raise GridshieldError(
                "damage was built for another grid (sizes differ); build it with Damage.from_ids(grid, ...)"
            )
        return damage
    return Damage.from_ids(grid, damage)


__all__ = ["DAMAGE_KINDS", "Damage", "as_damage"]
