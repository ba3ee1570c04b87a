"""The demo county's staff and departments: one user per role and the departments' keys.
Their tokens are printed once and written to a file beside the database for ./scripts/run."""

from __future__ import annotations

import secrets
from decimal import Decimal

from sqlmodel import Session

from claims.auth import SYSTEM
from claims.people import create_client, create_user
from claims.web.session import set_password

DEMO_USERS = (
    ("clerk", "王业务", "clerk", None),
    ("investigator", "李查勘", "investigator", None),
    ("adjudicator", "张审核", "adjudicator", Decimal("5000.00")),
    ("supervisor", "刘主管", "supervisor", Decimal("100000.00")),
    ("auditor", "陈审计", "auditor", None),
    ("admin", "赵管理", "admin", None),
)
DEMO_DEPARTMENTS = (
    ("禹州市医疗保障局", "medical_insurance"),
    ("禹州市民政局", "civil_affairs"),
    ("禹州市残疾人联合会", "disabled_federation"),
    ("禹州市应急管理局", "emergency_management"),
    ("禹州市乡村振兴局", "poverty_office"),
    ("禹州市公安局交通警察大队", "traffic_police"),
    ("禹州市教育局", "education"),
)


def seed_people(session: Session) -> list[str]:
    """Create the demo users (each with a password for the web workspace) and department
    keys; returns printable lines with the passwords and tokens."""
    lines = ["Demo users (role, approval limit): web password / API token"]
    for username, name, role, limit in DEMO_USERS:
        user, token = create_user(session, SYSTEM, username=username, full_name=name,
                                  role=role, approval_limit=limit)
        password = secrets.token_urlsafe(9)
        set_password(session, SYSTEM, user, password)
        lines.append(f"  {username:<13} {name} ({role}{f', limit {limit}' if limit else ''}): "
                     f"{password} / {token}")
    lines.append("Department API keys (submit events):")
    for name, organisation in DEMO_DEPARTMENTS:
        _, key = create_client(session, SYSTEM, name, organisation)
        lines.append(f"  {name} ({organisation}): {key}")
    return lines
