"""Dependencies shared by the API routers."""

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.dependencies.utils import is_scalar_field
from fastapi.routing import APIRoute
from sqlmodel import Session, select

from claims.db import get_session
from policies.errors import InvalidInput
from policies.models import Region
from policies.registry import MAX_PAGE, PageRequest
from policies.vocab import RegionLevel

SessionDep = Annotated[Session, Depends(get_session)]


def page_request(
    offset: Annotated[int, Query(ge=0, description="rows to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows to return")] = 50,
) -> PageRequest:
    return PageRequest(offset=offset, limit=limit)


PageDep = Annotated[PageRequest, Depends(page_request)]


def route_parameters(route: APIRoute, kind: str = "query_params", *, lists: bool = False
                ) -> frozenset[str]:
    """The query parameters (or body fields) a route reads, its dependencies' included, or
    with ``lists`` those of them that take several values; read once a route and kept on
    it (every request of the API asks, single events included; a route compares by value,
    so it is no dictionary's key)."""
    kept = route.__dict__.setdefault("fangpin_parameters", {})
    if (kind, lists) not in kept:
        found, waiting = set(), [route.dependant]
        while waiting:
            dependant = waiting.pop()
            found.update(param.alias for param in getattr(dependant, kind)
                         if not lists or not is_scalar_field(param))
            waiting.extend(dependant.dependencies)
        kept[(kind, lists)] = frozenset(found)
    return kept[(kind, lists)]


FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def check_regions(session: Session, *, village_id: int | None = None,
                  township_id: int | None = None) -> None:
    """A filter by region names one of its level, or is refused naming it: one that can
    match nothing had answered an empty list (a tester's township_id of a village, of
    none)."""
    for field, region_id, level in (("village_id", village_id, RegionLevel.village),
                                    ("township_id", township_id, RegionLevel.township)):
        if region_id is not None and session.exec(select(Region.level).where(
                Region.id == region_id)).first() != level:
            raise InvalidInput(f"{field}: {region_id} is not a {level}", field=field,
                               value=region_id, code="not_a_region")


async def known_fields_only(request: Request) -> None:
    """Refuse an API query parameter the route does not read, and a JSON body's field it
    does not take where the body is several fields (a body that is one model forbids them
    itself): {"claim_ids": [...], "amount": "100.00"} sent to /api/approvals had approved
    the whole amount due, its "amount" unread (a security tester's), and
    /api/warnings?household_id=868 listed the county's 210 warnings (a tester's)."""
    route = request.scope.get("route")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if isinstance(route, APIRoute) and request.url.path.startswith("/api/"):
        unknown = sorted(set(request.query_params) - route_parameters(route))
        if unknown:
            taken = sorted(route_parameters(route))
            raise InvalidInput(f"{unknown[0]}: this request takes no such parameter (it takes "
                               f"{', '.join(taken) if taken else 'none'})", field=unknown[0],
                               code="unknown_parameter")
        # one value where the route takes one: "?state=paid&state=opened" had been read as
        # its last value, the first unseen (a tester's)
        repeated = sorted(name for name in set(request.query_params) - route_parameters(
            route, lists=True) if len(request.query_params.getlist(name)) > 1)
        if repeated:
            raise InvalidInput(f"{repeated[0]}: give this parameter once", field=repeated[0],
                               code="repeated_parameter")
        if media in FORMS and route.dependant.body_params:
            # a form's fields too (FastAPI has read the form already: this is its copy): a
            # "dry_run=1" sent with a bank's answer had confirmed its lines (a re-tester's)
            taken = route_parameters(route, "body_params")
            unknown = sorted(set((await request.form()).keys()) - taken)
            if unknown:
                raise InvalidInput(f"{unknown[0]}: this request takes no such field (it takes "
                                   f"{', '.join(sorted(taken))})", field=unknown[0],
                                   code="unknown_field")
        if not route.dependant.body_params and (await request.body()).strip() not in (
                b"", b"{}"):
            # a route that takes no body: what was sent with it is unread (a hostile tester's
            # {"bogus": 1} deactivated a key as if nothing had been said)
            raise InvalidInput("this request takes no body; send none", field="body",
                               code="no_body")
    # as FastAPI reads a body as JSON: Application/JSON and any …+json too (a re-tester's
    # "Application/JSON" had passed an unread "amount")
    if not isinstance(route, APIRoute) or not (media == "application/json"
                                               or media.endswith("+json")):
        return
    params = route.dependant.body_params
    if not params or (len(params) == 1 and not getattr(params[0].field_info, "embed", False)):
        return
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return  # the route's own reading says what is wrong with it
    if isinstance(body, dict):
        unknown = sorted(set(body) - {param.alias for param in params})
        if unknown:
            raise InvalidInput(f"{unknown[0]}: this request takes no such field (it takes "
                               f"{', '.join(param.alias for param in params)})",
                               field=unknown[0], code="unknown_field")
