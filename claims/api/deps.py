"""Dependencies shared by the API routers."""

from typing import Annotated

from fastapi import Depends, Query
from sqlmodel import Session

from claims.db import get_session
from policies.registry import MAX_PAGE, PageRequest

SessionDep = Annotated[Session, Depends(get_session)]


def page_request(
    offset: Annotated[int, Query(ge=0, description="rows to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows to return")] = 50,
) -> PageRequest:
    return PageRequest(offset=offset, limit=limit)


PageDep = Annotated[PageRequest, Depends(page_request)]
