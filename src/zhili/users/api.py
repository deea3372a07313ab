"""Login, the current user, and user administration."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from zhili.core.schemas import Page
from zhili.core.security import Role
from zhili.http.deps import SESSION_COOKIE, CurrentUser, Db, Paging, bearer_token, client_ip, cookie_secure
from zhili.http.openapi import LOCKED
from zhili.users import service
from zhili.users.schemas import (
    LoginIn,
    LoginOut,
    MeOut,
    PasswordChange,
    PasswordReset,
    UserCreate,
    UserOut,
    UserUpdate,
)

auth_router = APIRouter(prefix="/auth", tags=["登录认证"])
router = APIRouter(prefix="/users", tags=["用户与角色"])


@auth_router.post("/login", response_model=LoginOut, summary="登录", responses=LOCKED)
def login(body: LoginIn, request: Request, response: Response, session: Db) -> LoginOut:
    token, auth, user = service.login(session, username=body.username, password=body.password,
                                      ip=client_ip(request), user_agent=request.headers.get("user-agent"))
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=cookie_secure(request), expires=auth.expires_at)
    return LoginOut(access_token=token, expires_at=auth.expires_at, must_change_password=user.must_change_password)


@auth_router.post("/logout", status_code=204, summary="退出登录")
def logout(request: Request, response: Response, session: Db, principal: CurrentUser) -> Response:
    token = bearer_token(request)
    if token:
        service.logout(session, token=token)
    response.delete_cookie(SESSION_COOKIE)
    response.status_code = 204
    return response


@auth_router.get("/me", response_model=MeOut, summary="当前用户")
def me(session: Db, principal: CurrentUser) -> MeOut:
    user = service.get_user_self(session, principal=principal)
    return MeOut(**service.describe_user(session, user=user), permissions=sorted(p.value for p in
                 principal.permissions), scope_paths=list(principal.scope_paths))


@auth_router.post("/password", status_code=204, summary="修改密码")
def change_password(body: PasswordChange, request: Request, session: Db, principal: CurrentUser) -> Response:
    service.change_password(session, principal=principal, old_password=body.old_password,
                            new_password=body.new_password, current_token=bearer_token(request))
    return Response(status_code=204)


@router.get("", response_model=Page[UserOut], summary="用户列表")
def list_users(
    session: Db, principal: CurrentUser, paging: Paging,
    role: Annotated[Role | None, Query(description="角色")] = None,
    q: Annotated[str | None, Query(max_length=64, description="用户名或姓名关键字")] = None,
) -> Page[UserOut]:
    rows, total = service.list_users(session, principal=principal, role=role, q=q, page=paging.page,
                                     page_size=paging.page_size, sort=paging.sort)
    return Page(items=[UserOut(**service.describe_user(session, user=u)) for u in rows], total=total,
                page=paging.page, page_size=paging.page_size)


@router.post("", response_model=UserOut, status_code=201, summary="创建用户")
def create_user(body: UserCreate, session: Db, principal: CurrentUser) -> UserOut:
    user = service.create_user(session, principal=principal, **body.model_dump())
    return UserOut(**service.describe_user(session, user=user))


@router.get("/{user_id}", response_model=UserOut, summary="用户详情")
def get_user(user_id: uuid.UUID, session: Db, principal: CurrentUser) -> UserOut:
    return UserOut(**service.describe_user(session, user=service.get_user(session, principal=principal,
                                                                          user_id=user_id)))


@router.patch("/{user_id}", response_model=UserOut, summary="修改用户")
def update_user(user_id: uuid.UUID, body: UserUpdate, session: Db, principal: CurrentUser) -> UserOut:
    user = service.update_user(session, principal=principal, user_id=user_id,
                               changes=body.model_dump(exclude_unset=True))
    return UserOut(**service.describe_user(session, user=user))


@router.post("/{user_id}/password", status_code=204, summary="重置用户密码")
def reset_password(user_id: uuid.UUID, body: PasswordReset, session: Db, principal: CurrentUser) -> Response:
    service.reset_password(session, principal=principal, user_id=user_id, new_password=body.new_password)
    return Response(status_code=204)
