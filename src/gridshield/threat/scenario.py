"""Threat scenario files: the pydantic schema, the defaults and their sources, and loading.

A scenario (YAML) names the grid and one or more **waves** of weapons. Each wave has a weapon
class, the number launched (fixed or a distribution), the interception model (a fixed rate, a
Beta prior, or observed counts turned into a Beta posterior), the targets (asset classes and/or
explicit ids, with weights), the probability that a hit destroys each asset class, and the
protected assets with their reduced probability. Example::

    name: dec-19-drones
    grid:
      case: case30                # registry name or path to a .m file (relative to this file)
      sites: {S1: [1, 2], S2: [5]}  # optional: site name -> bus numbers (or "bus:<n>" ids)
      groups: {north: [1, 2, 3]}    # optional: load group (district) name -> bus numbers
      report_by: group              # areas for P(dark): the loads' group (default), bus or site
    impact: {cascade: false}
    waves:
      - weapon: drone
        launched: 35                # or {poisson: 35} or {uniform_int: [30, 40]}
        interception:
          observed: {shot_down: 30, launched: 35}   # -> Beta(1 + 30, 1 + 5)
        targets:
          - {class: substation, weight: 3}
          - {id: "site:S1", weight: 1}
        destroy: {substation: 0.4}
        protected:
          - {id: "site:S1", destroy_probability: 0.05}

Every validation error names the field path (``waves[0].interception.observed.shot_down``) and
the fix; pydantic's ``ValidationError`` is turned into :class:`ScenarioError`.

Defaults
--------
Interception rates (``DEFAULT_INTERCEPTION``), from ../shared/DOMAIN.md section 3:

- drone (Shahed class) 0.85: ">85 % of Shahed downed" (Oct 2022, censor.net 3374577); 86 %
  (1,953/2,277, Jan-Jun 2024, alarabiya); WSJ ~Nov 2023-Apr 2024: 82 %.
- cruise_missile 0.75: 76 % on 23 Nov 2022 (babel.ua 87478), 79 % on 16 Dec 2022
  (kyivindependent), ~80 % on 15 Nov 2022 (censor.net 3382299).
- ballistic_missile 0.05: "Kinzhal and ballistic missiles were effectively un-interceptable in
  early 2023" (DOMAIN.md section 3); a small non-zero rate is a gridshield assumption.
- missile (mixed salvo) 0.46: WSJ ~Nov 2023-Apr 2024, missiles 46 % (yahoo/NV).

Destroy probabilities per hit (``DEFAULT_DESTROY``) are **gridshield assumptions**: DOMAIN.md
gives no public per-hit figure (it notes that some sheltered substations withstood up to 20
Shahed hits, section 2). Larger warheads (cruise, ballistic) get higher values than drones.

Protection (``DEFAULT_PROTECTION_REDUCTION`` = 0.85): "passive protection worked 80-90 % of the
time" (Shmyhal, babel.ua 100170; DOMAIN.md section 2), so a protected asset's destroy
probability is multiplied by 1 - 0.85 unless the file gives its own value.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from gridshield.errors import GridshieldError

#: Weapon classes a wave may name.
WEAPONS = ("drone", "cruise_missile", "ballistic_missile", "missile", "guided_bomb", "artillery")

#: Default interception rate by weapon (sources in the module docstring; DOMAIN.md section 3).
DEFAULT_INTERCEPTION: dict[str, float] = {
    "drone": 0.85,  # censor.net 3374577 (>85 %, Oct 2022); alarabiya 86 % Jan-Jun 2024
    "cruise_missile": 0.75,  # babel.ua 87478 (76 %, 23 Nov 2022); kyivindependent 79 % (16 Dec 2022)
    "ballistic_missile": 0.05,  # DOMAIN.md 3: ballistic / Kinzhal effectively un-interceptable in early 2023
    "missile": 0.46,  # WSJ via yahoo/NV: missiles 46 %, ~Nov 2023-Apr 2024
    "guided_bomb": 0.0,  # assumption: glide bombs are not intercepted by air defence
    "artillery": 0.0,  # assumption
}

#: Asset classes a target entry may name. ``site`` = every site; ``substation`` = sites without a
#: generator; ``plant`` = sites with at least one generator.
ASSET_CLASSES = ("site", "substation", "plant", "transformer", "line", "generator", "bus")

#: Probability that one hit destroys an asset, by weapon and asset class (gridshield assumptions,
#: see the module docstring: no public per-hit figure exists in DOMAIN.md).
DEFAULT_DESTROY: dict[str, dict[str, float]] = {
    "drone": {"substation": 0.35, "plant": 0.25, "transformer": 0.5, "line": 0.3, "generator": 0.25, "bus": 0.35},
    "cruise_missile": {
        "substation": 0.7, "plant": 0.5, "transformer": 0.8, "line": 0.6, "generator": 0.5, "bus": 0.7,
    },
    "ballistic_missile": {
        "substation": 0.75, "plant": 0.55, "transformer": 0.85, "line": 0.6, "generator": 0.55, "bus": 0.75,
    },
    "missile": {"substation": 0.7, "plant": 0.5, "transformer": 0.8, "line": 0.6, "generator": 0.5, "bus": 0.7},
    "guided_bomb": {"substation": 0.6, "plant": 0.4, "transformer": 0.7, "line": 0.5, "generator": 0.4, "bus": 0.6},
    "artillery": {"substation": 0.2, "plant": 0.1, "transformer": 0.3, "line": 0.3, "generator": 0.1, "bus": 0.2},
}

#: Fraction of the destroy probability removed by passive protection (Shmyhal: protection worked
#: 80-90 % of the time, babel.ua 100170; DOMAIN.md section 2).
DEFAULT_PROTECTION_REDUCTION = 0.85


class ScenarioError(GridshieldError):
    """A threat scenario is invalid; the message names the file, the field path and the fix."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: invalid threat scenario:\n{lines}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class BetaPrior(_Model):
    """A Beta(alpha, beta) distribution of the interception rate."""

    alpha: float = Field(gt=0.0, description="Beta shape alpha (> 0); 1 with beta 1 is uniform")
    beta: float = Field(gt=0.0, description="Beta shape beta (> 0)")

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def variance(self) -> float:
        a, b = self.alpha, self.beta
        return a * b / ((a + b) ** 2 * (a + b + 1.0))


class Observed(_Model):
    """Counts from a past wave: ``shot_down`` of ``launched``."""

    shot_down: int = Field(ge=0, description="number shot down")
    launched: int = Field(ge=0, description="number launched")

    @model_validator(mode="after")
    def _check(self) -> Observed:
        if self.shot_down > self.launched:
            raise ValueError(
                f"shot_down ({self.shot_down}) exceeds launched ({self.launched}); fix the counts"
            )
        return self


class Interception(_Model):
    """Interception model: exactly one of ``rate``, ``beta`` or ``observed`` (+ optional ``prior``).

    ``observed: {shot_down: s, launched: n}`` with prior Beta(a, b) (uniform Beta(1, 1) by
    default) gives the conjugate posterior Beta(a + s, b + n - s); each Monte Carlo sample draws
    its own rate from it, so the uncertainty in the rate is carried into the results.
    """

    rate: Probability | None = None
    beta: BetaPrior | None = None
    observed: Observed | None = None
    prior: BetaPrior | None = None

    @model_validator(mode="after")
    def _one(self) -> Interception:
        given = [k for k in ("rate", "beta", "observed") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of rate (e.g. 0.85), beta ({alpha: 31, beta: 6}) or observed "
                f"({{shot_down: 30, launched: 35}}); got {given or 'none'}"
            )
        if self.prior is not None and self.observed is None:
            raise ValueError("prior is only used with observed; remove it or add observed counts")
        return self

    def distribution(self) -> tuple[str, tuple[float, ...]]:
        """``("fixed", (rate,))`` or ``("beta", (alpha, beta))`` (the posterior for observed counts)."""
        if self.rate is not None:
            return "fixed", (float(self.rate),)
        if self.beta is not None:
            return "beta", (float(self.beta.alpha), float(self.beta.beta))
        post = beta_posterior(self.observed.shot_down, self.observed.launched, self.prior)  # type: ignore[union-attr]
        return "beta", (post.alpha, post.beta)


def beta_posterior(shot_down: int, launched: int, prior: BetaPrior | None = None) -> BetaPrior:
    """Conjugate Beta posterior of the interception rate after ``shot_down`` of ``launched``.

    With the uniform prior Beta(1, 1), 30 of 35 gives Beta(31, 6) (mean 31/37 = 0.838).
    """
    p = prior or BetaPrior(alpha=1.0, beta=1.0)
    if not 0 <= shot_down <= launched:
        raise GridshieldError(f"observed counts: need 0 <= shot_down <= launched, got {shot_down} of {launched}")
    return BetaPrior(alpha=p.alpha + shot_down, beta=p.beta + (launched - shot_down))


class Launched(_Model):
    """Number launched: exactly one of ``fixed``, ``poisson`` (mean) or ``uniform_int`` ([low, high])."""

    fixed: int | None = Field(default=None, ge=0)
    poisson: float | None = Field(default=None, ge=0.0, description="mean number launched")
    uniform_int: tuple[int, int] | None = None

    @model_validator(mode="after")
    def _one(self) -> Launched:
        given = [k for k in ("fixed", "poisson", "uniform_int") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of fixed (35), poisson (mean, e.g. 35) or uniform_int ([30, 40]); "
                f"got {given or 'none'}"
            )
        if self.uniform_int is not None and not (0 <= self.uniform_int[0] <= self.uniform_int[1]):
            raise ValueError(f"uniform_int {list(self.uniform_int)}: need 0 <= low <= high, e.g. [30, 40]")
        return self

    @property
    def mean(self) -> float:
        if self.fixed is not None:
            return float(self.fixed)
        if self.poisson is not None:
            return float(self.poisson)
        lo, hi = self.uniform_int  # type: ignore[misc]
        return (lo + hi) / 2.0


class Target(_Model):
    """A target entry: an asset class (``class``) or an explicit id (``id``), and a relative weight.

    A class entry's weight is shared equally among the assets of that class; an id entry's weight
    goes to that asset. Each hit picks one target with probability proportional to its weight.
    """

    asset_class: Literal["site", "substation", "plant", "transformer", "line", "generator", "bus"] | None = Field(
        default=None, alias="class"
    )
    id: str | None = None
    weight: float = Field(default=1.0, gt=0.0, description="relative weight (> 0)")

    @model_validator(mode="after")
    def _one(self) -> Target:
        if (self.asset_class is None) == (self.id is None):
            raise ValueError(
                "give exactly one of class (one of " + ", ".join(ASSET_CLASSES) + ") or id (e.g. 'site:S1')"
            )
        if self.id is not None and ":" not in self.id:
            raise ValueError(f"id {self.id!r} must be 'kind:name', e.g. 'site:S1', 'branch:12', 'gen:2'")
        return self


class Protected(_Model):
    """A protected asset: its id and either its destroy probability per hit or the reduction."""

    id: str
    destroy_probability: Probability | None = None
    reduction: Probability | None = Field(
        default=None, description="fraction of the destroy probability removed (default 0.85)"
    )

    @model_validator(mode="after")
    def _check(self) -> Protected:
        if self.destroy_probability is not None and self.reduction is not None:
            raise ValueError("give destroy_probability or reduction, not both")
        if ":" not in self.id:
            raise ValueError(f"id {self.id!r} must be 'kind:name', e.g. 'site:S1'")
        return self


class Wave(_Model):
    """One wave of one weapon class."""

    name: str | None = None
    weapon: Literal["drone", "cruise_missile", "ballistic_missile", "missile", "guided_bomb", "artillery"]
    launched: Launched
    interception: Interception | None = None
    targets: list[Target] = Field(min_length=1)
    destroy: dict[str, Probability] = Field(default_factory=dict)
    protected: list[Protected] = Field(default_factory=list)

    @field_validator("launched", mode="before")
    @classmethod
    def _launched_int(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("launched must be a count (e.g. 35) or a distribution")
        if isinstance(v, int):
            return {"fixed": v}
        return v

    @field_validator("interception", mode="before")
    @classmethod
    def _rate_number(cls, v: Any) -> Any:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return {"rate": v}
        return v

    @field_validator("destroy")
    @classmethod
    def _classes(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k in v if k not in ASSET_CLASSES]
        if bad:
            raise ValueError(f"unknown asset class {bad}; use {', '.join(ASSET_CLASSES)}")
        return v

    def interception_or_default(self) -> Interception:
        return self.interception or Interception(rate=DEFAULT_INTERCEPTION[self.weapon])

    def destroy_probability(self, asset_class: str) -> float:
        """P(destroy | hit) for an asset class: the file's value, else the weapon default."""
        if asset_class in self.destroy:
            return float(self.destroy[asset_class])
        if asset_class in ("substation", "plant") and "site" in self.destroy:
            return float(self.destroy["site"])
        return DEFAULT_DESTROY[self.weapon][asset_class]


class GridSpec(_Model):
    """The grid: a case name or file, plus optional sites and load groups defined by bus."""

    case: str
    sites: dict[str, list[int | str]] = Field(default_factory=dict)
    groups: dict[str, list[int | str]] = Field(default_factory=dict)
    report_by: Literal["group", "bus", "site"] = Field(
        default="group",
        description="areas for per-area MW lost and P(dark): the loads' group, their bus, or their bus's site",
    )


class ImpactSpec(_Model):
    """Options handed to :class:`gridshield.impact.ImpactModel`."""

    cascade: bool = False
    rate: Literal["a", "b", "c"] = "a"
    redispatch: bool = True
    commitment: Literal["milp", "relaxed", "fixed"] | None = Field(
        default=None, description="generator on/off model of the load-delivery LP (impact engine default if unset)"
    )
    weights: dict[str, float] | None = Field(default=None, description="objective weight per priority class")

    def options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`gridshield.impact.ImpactModel` (unset ones left to its defaults)."""
        out: dict[str, Any] = {"rate": self.rate, "cascade": self.cascade, "redispatch": self.redispatch}
        if self.commitment is not None:
            out["commitment"] = self.commitment
        if self.weights is not None:
            out["weights"] = dict(self.weights)
        return out


class Scenario(_Model):
    """A validated threat scenario (see the module docstring for the YAML form)."""

    name: str = "scenario"
    description: str = ""
    grid: GridSpec
    impact: ImpactSpec = Field(default_factory=ImpactSpec)
    waves: list[Wave] = Field(min_length=1)
    _source: str = PrivateAttr(default="<scenario>")

    @property
    def source(self) -> str:
        """Where the scenario came from (file name), for error messages."""
        return self._source

    @field_validator("grid", mode="before")
    @classmethod
    def _grid_str(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {"case": v}
        return v

    # -- identity ---------------------------------------------------------------------------
    def canonical_json(self) -> str:
        """The scenario as canonical JSON (sorted keys): what workers rebuild it from."""
        return json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))

    def hash(self) -> str:
        """SHA-256 of :meth:`canonical_json` (identifies the scenario in the results store)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


# -- loading -----------------------------------------------------------------------------------


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith(("function-", "tagged-union")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


_HINTS = {
    "extra_forbidden": "unknown field; remove it or check its spelling",
    "missing": "this field is required; add it",
    "literal_error": None,
}


def _problems(exc: ValidationError) -> list[str]:
    probs = []
    for err in exc.errors(include_url=False):
        where = _loc(tuple(err.get("loc", ())))
        msg = err.get("msg", "invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        typ = err.get("type", "")
        hint = _HINTS.get(typ)
        if typ == "extra_forbidden":
            msg = hint
        elif typ == "missing":
            msg = hint
        elif typ in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            msg = f"{msg} (got {err.get('input')!r})"
        probs.append(f"{where}: {msg}")
    return probs


def scenario_from_dict(data: Any, source: str = "<scenario>", base_dir: str | os.PathLike[str] | None = None) -> Scenario:
    """Validate a scenario mapping; a relative grid path is resolved against ``base_dir``."""
    if not isinstance(data, dict):
        raise ScenarioError(source, [f"(top level): expected a mapping with grid and waves, got {type(data).__name__}"])
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, _problems(exc)) from None
    case = sc.grid.case
    if base_dir is not None and (case.endswith(".m") or "/" in case or os.sep in case):
        p = Path(case)
        if not p.is_absolute():
            p = (Path(base_dir) / p).resolve()
        if not p.is_file():
            raise ScenarioError(source, [f"grid.case: file {case!r} not found (looked at {p}); fix the path"])
        sc = sc.model_copy(update={"grid": sc.grid.model_copy(update={"case": str(p)})})
    sc._source = source
    return sc


def load_scenario(source: str | os.PathLike[str] | Scenario | dict) -> Scenario:
    """Load and validate a scenario from a YAML/JSON file, a YAML string, a dict, or pass a Scenario through."""
    if isinstance(source, Scenario):
        return source
    if isinstance(source, dict):
        return scenario_from_dict(source)
    s = os.fspath(source)
    p = Path(s)
    if "\n" not in s and (p.suffix.lower() in (".yaml", ".yml", ".json") or p.is_file()):
        if not p.is_file():
            raise GridshieldError(f"scenario file {s!r} does not exist")
        text = p.read_text(encoding="utf-8")
        return scenario_from_text(text, str(p), p.resolve().parent)
    return scenario_from_text(s, "<scenario>", Path.cwd())


def scenario_from_text(text: str, source: str = "<scenario>", base_dir: str | os.PathLike[str] | None = None) -> Scenario:
    """Parse and validate scenario YAML text.

    With ``base_dir`` a ``grid.case`` path is resolved against it and must exist; without it
    (text from the dashboard) ``grid.case`` is kept as written and no file is looked at.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ScenarioError(source, [f"YAML syntax error at{line}: {getattr(exc, 'problem', exc)}; fix the syntax"]) from None
    return scenario_from_dict(data, source, base_dir)


def scenario_from_json(text: str) -> Scenario:
    """Rebuild a scenario from :meth:`Scenario.canonical_json` (used by workers and ``--resume``)."""
    return scenario_from_dict(json.loads(text), "<stored scenario>")


__all__ = [
    "ASSET_CLASSES",
    "DEFAULT_DESTROY",
    "DEFAULT_INTERCEPTION",
    "DEFAULT_PROTECTION_REDUCTION",
    "WEAPONS",
    "BetaPrior",
    "GridSpec",
    "ImpactSpec",
    "Interception",
    "Launched",
    "Observed",
    "Protected",
    "Scenario",
    "ScenarioError",
    "Target",
    "Wave",
    "beta_posterior",
    "load_scenario",
    "scenario_from_dict",
    "scenario_from_json",
    "scenario_from_text",
]
