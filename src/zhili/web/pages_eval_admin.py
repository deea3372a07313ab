"""The 4E administrators' pages (eval:admin): the indicator framework (list, edit with the formula checked against
the known figures), the weights (edit every sibling group, preview the ranking change before saving a new version,
derive a group's weights by AHP pairwise comparison with its consistency ratio) and the runs (score a period now).
Thin routes over :mod:`zhili.evaluation.service` and :mod:`zhili.evaluation.ahp`; a refused form comes back with
what was typed and the Chinese reason."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zhili.core.db import roll_back_refused
from zhili.core.errors import DomainError
from zhili.core.security import Perm
from zhili.evaluation import ahp, catalog, periods, service
from zhili.evaluation.models import Run
from zhili.http.deps import Db
from zhili.web import casepages as cp
from zhili.web import messages_evaladmin  # noqa: F401  (registers this section's messages)
from zhili.web.adminkit import perm_gate, query_text
from zhili.web.deps import PageUser
from zhili.web.render import redirect, render

router = APIRouter(prefix="/console/eval")

EvalAdmin = Annotated[PageUser, Depends(perm_gate(lambda pu: pu.principal.can(Perm.eval_admin),
                                                  "eval.admin_forbidden"))]
IND_FIELDS = ("name", "definition", "unit", "direction", "formula", "scope", "normalisation", "target", "threshold",
              "source", "rationale", "sub_dimension", "is_active")
AHP_SCALE = ("9", "8", "7", "6", "5", "4", "3", "2", "1", "1/2", "1/3", "1/4", "1/5", "1/6", "1/7", "1/8", "1/9")


def _ctx(pu: PageUser, **kw: Any) -> dict[str, Any]:
    return {"section": kw.pop("section"), "can_admin": True, "can_fill": pu.principal.can(Perm.eval_fill),
            "dimensions": catalog.DIMENSIONS, "sub_dimensions": catalog.SUB_DIMENSIONS, **kw}


# -- indicators ----------------------------------------------------------------------------------------------------

@router.get("/indicators")
def indicators(request: Request, session: Db, pu: EvalAdmin) -> Response:
    rows = service.list_indicators(session, principal=pu.principal)
    ws = service.active_weight_set(session)
    weights = dict(ws.weights) if ws else catalog.default_weights()
    defs = service.definitions(session)
    from zhili.evaluation import scoring

    share = scoring.effective_weights(defs, weights)
    return render(request, "eval/admin_indicators.html", _ctx(
        pu, section="indicators", rows=rows, weights=weights, share=share))


def _ind_values(row: Any) -> dict[str, str]:
    def s(v: Any) -> str:
        return "" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))

    return {k: ("1" if row.is_active else "") if k == "is_active" else s(getattr(row, k)) for k in IND_FIELDS}


def _ind_page(request: Request, session: Any, pu: PageUser, row: Any, values: dict[str, str],
              error: str | None = None, status: int = 200) -> Response:
    return render(request, "eval/admin_indicator.html", _ctx(
        pu, section="indicators", row=row, values=values, error=error,
        metrics=sorted(service.known_metrics(session))), status=status)


@router.get("/indicators/{code}")
def indicator_edit(request: Request, session: Db, pu: EvalAdmin, code: str) -> Response:
    row = service.get_indicator(session, principal=pu.principal, code=code[:40])
    return _ind_page(request, session, pu, row, _ind_values(row))


def _float_or_none(raw: str) -> float | str | None:
    if raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        return raw  # the service refuses it with the field's name


@router.post("/indicators/{code}")
def indicator_save(request: Request, session: Db, pu: EvalAdmin, code: str, form: cp.PostedForm) -> Response:
    row = service.get_indicator(session, principal=pu.principal, code=code[:40])
    raw = {k: cp.text(form, k, 2000) for k in IND_FIELDS}
    changes: dict[str, Any] = {k: raw[k] for k in ("name", "definition", "unit", "direction", "formula", "scope",
                                                  "normalisation", "source", "rationale", "sub_dimension")}
    changes["target"] = _float_or_none(raw["target"])
    changes["threshold"] = _float_or_none(raw["threshold"])
    changes["is_active"] = raw["is_active"] == "1"
    try:
        service.update_indicator(session, principal=pu.principal, code=row.code, changes=changes)
    except DomainError as exc:
        roll_back_refused(session)
        row = service.get_indicator(session, principal=pu.principal, code=code[:40])
        return _ind_page(request, session, pu, row, raw, error=exc.message, status=exc.status)
    return redirect(f"/console/eval/indicators/{row.code}?msg=eval_ind_saved")


# -- weights, what-if, AHP ---------------------------------------------------------------------------------------

def _latest_period(session: Any) -> str | None:
    from sqlalchemy import select

    return session.scalar(select(Run.period).where(Run.is_current.is_(True), Run.period_kind == "month")
                          .order_by(Run.start_day.desc()).limit(1))


def _weights_page(request: Request, session: Any, pu: PageUser, *, weights: dict[str, Any],
                  preview: list[dict[str, Any]] | None = None, error: str | None = None, period: str = "",
                  level: str = "community", status: int = 200, note: str = "") -> Response:
    ws = service.active_weight_set(session)
    defs = service.definitions(session)
    from zhili.evaluation import scoring

    clean = {k: v for k, v in weights.items() if isinstance(v, int | float)}
    share = scoring.effective_weights(defs, {**(ws.weights if ws else {}), **clean})
    return render(request, "eval/admin_weights.html", _ctx(
        pu, section="weights", ws=ws, weights=weights, defs=defs, share=share, preview=preview, error=error,
        period=period or _latest_period(session) or "", level=level, note=note,
        history=service.list_weight_sets(session, principal=pu.principal)), status=status)


@router.get("/weights")
def weights_page(request: Request, session: Db, pu: EvalAdmin) -> Response:
    ws = service.active_weight_set(session)
    return _weights_page(request, session, pu, weights=dict(ws.weights) if ws else catalog.default_weights())


def _posted_weights(form: FormData) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in form:
        if key.startswith("w_"):
            raw = cp.text(form, key, 20)
            try:
                out[key[2:]] = float(raw)
            except ValueError:
                out[key[2:]] = raw
    return out


@router.post("/weights/preview")
def weights_preview(request: Request, session: Db, pu: EvalAdmin, form: cp.PostedForm) -> Response:
    weights = _posted_weights(form)
    period = cp.text(form, "period", 10) or (_latest_period(session) or "")
    level = cp.text(form, "level", 16) or "community"
    error, preview = None, None
    try:
        if not period:
            raise _no_run()
        preview = service.what_if(session, principal=pu.principal, period=period, weights=weights, level=level)
    except DomainError as exc:
        error = exc.message
    if request.headers.get("hx-request"):
        return render(request, "eval/_whatif.html", {"preview": preview, "error": error})
    return _weights_page(request, session, pu, weights=weights, preview=preview, error=error, period=period,
                         level=level)


def _no_run() -> DomainError:
    from zhili.core.errors import NotFound

    return NotFound("尚无评估结果，无法预览；请先在“计算记录”中计算一个周期")


@router.post("/weights")
def weights_save(request: Request, session: Db, pu: EvalAdmin, form: cp.PostedForm) -> Response:
    weights = _posted_weights(form)
    derivation: dict[str, Any] = {}
    if cp.text(form, "ahp_group", 8):
        derivation = {cp.text(form, "ahp_group", 8): {"method": "ahp", "cr": cp.text(form, "ahp_cr", 20)}}
    try:
        service.save_weights(session, principal=pu.principal, weights=weights, name=cp.text(form, "name", 100),
                             note=cp.text(form, "note", 1000) or None, derivation=derivation)
    except DomainError as exc:
        roll_back_refused(session)
        return _weights_page(request, session, pu, weights=weights, error=exc.message, status=exc.status,
                             note=cp.text(form, "note", 1000))
    return redirect("/console/eval/weights?msg=eval_weights_saved")


def ahp_groups(session: Any) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Every sibling group as (key, Chinese name, [(member key, member name)]) — the four dimensions, each
    dimension's sub-dimensions, each sub-dimension's indicators (groups of two or more)."""
    defs = service.definitions(session)
    groups: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("E", "四个维度", [(k, v) for k, v in catalog.DIMENSIONS.items()])]
    for dim, name in catalog.DIMENSIONS.items():
        subs = [(k, n) for k, (d, n) in catalog.SUB_DIMENSIONS.items() if d == dim]
        if len(subs) >= 2:
            groups.append((dim, f"{name}维度的子维度", subs))
    for sub, (_dim, name) in catalog.SUB_DIMENSIONS.items():
        members = [(d.code, d.name) for d in defs if d.sub_dimension == sub]
        if len(members) >= 2:
            groups.append((sub, f"“{name}”的指标", members))
    return groups


def _ahp_page(request: Request, session: Any, pu: PageUser, group: str, *, judgements: dict[str, str] | None = None,
              result: Any = None, error: str | None = None, status: int = 200) -> Response:
    groups = ahp_groups(session)
    chosen = next((g for g in groups if g[0] == group), groups[0])
    members = chosen[2]
    pairs = [(a, b) for i, a in enumerate(members) for b in members[i + 1:]]
    ws = service.active_weight_set(session)
    return render(request, "eval/admin_ahp.html", _ctx(
        pu, section="weights", groups=groups, group=chosen, pairs=pairs, scale=AHP_SCALE,
        judgements=judgements or {}, result=result, error=error,
        weights_now=dict(ws.weights) if ws else {}),
        status=status)


@router.get("/weights/ahp")
def ahp_page(request: Request, session: Db, pu: EvalAdmin,
             group: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    return _ahp_page(request, session, pu, query_text(group, 40) or "E")


def _fraction(raw: str) -> float:
    if raw not in AHP_SCALE:
        raise ValueError(raw)
    if "/" in raw:
        a, b = raw.split("/")
        return float(a) / float(b)
    return float(raw)


@router.post("/weights/ahp")
def ahp_compute(request: Request, session: Db, pu: EvalAdmin, form: cp.PostedForm) -> Response:
    group_key = cp.text(form, "group", 40) or "E"
    groups = ahp_groups(session)
    chosen = next((g for g in groups if g[0] == group_key), groups[0])
    labels = [k for k, _ in chosen[2]]
    judgements: dict[str, str] = {}
    pairs: dict[tuple[str, str], float] = {}
    try:
        for i, a in enumerate(labels):
            for b in labels[i + 1:]:
                raw = cp.text(form, f"p_{a}__{b}", 8) or "1"
                judgements[f"{a}__{b}"] = raw
                pairs[(a, b)] = _fraction(raw)
        matrix = ahp.matrix_from_pairs(labels, pairs)
        result = ahp.ahp_weights(matrix, labels=labels, require_consistent=True)
    except ValueError:
        return _ahp_page(request, session, pu, chosen[0], judgements=judgements, status=422,
                         error="判断值只能从 1–9 标度中选择")
    except DomainError as exc:
        return _ahp_page(request, session, pu, chosen[0], judgements=judgements, error=exc.message,
                         status=exc.status)
    return _ahp_page(request, session, pu, chosen[0], judgements=judgements,
                     result={"weights": dict(zip(labels, result.weights, strict=True)), "cr": result.cr,
                             "lambda_max": result.lambda_max, "ci": result.ci, "ri": result.ri,
                             "names": dict(chosen[2])})


# -- runs ------------------------------------------------------------------------------------------------------------

def _runs_page(request: Request, session: Any, pu: PageUser, *, period: str = "", message: str | None = None,
               errors: dict[str, str] | None = None, error: str | None = None, status: int = 200) -> Response:
    from sqlalchemy import select

    runs = session.scalars(select(Run).order_by(Run.computed_at.desc()).limit(200)).all()
    return render(request, "eval/admin_runs.html", _ctx(
        pu, section="runs", runs=runs, period=period or periods.month_of(_today()).previous().key,
        message=message, errors=errors or {}, error=error, labels={r.period: _label(r.period) for r in runs},
        ind_names={d.code: d.name for d in service.definitions(session)}), status=status)


def _today() -> Any:
    from zhili.core.clock import today

    return today()


def _label(key: str) -> str:
    try:
        return periods.parse(key).label
    except DomainError:
        return key


@router.get("/runs")
def runs_page(request: Request, session: Db, pu: EvalAdmin) -> Response:
    return _runs_page(request, session, pu)


@router.post("/runs")
def run_now(request: Request, session: Db, pu: EvalAdmin, form: cp.PostedForm) -> Response:
    period = cp.text(form, "period", 10)
    try:
        out = service.run_period(session, principal=pu.principal, period=period,
                                 force=cp.text(form, "force", 1) == "1")
    except DomainError as exc:
        roll_back_refused(session)
        return _runs_page(request, session, pu, period=period, error=exc.message, status=exc.status)
    label = periods.parse(period).label
    message = ("evadm.run.done" if out.created else "evadm.run.same", {"period": label, "units": out.run.units,
                                                                       "s": f"{out.seconds:.1f}"})
    return _runs_page(request, session, pu, period=period, message=message, errors=out.errors)  # type: ignore[arg-type]
