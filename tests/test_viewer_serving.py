"""The run viewer's files as the server serves them: the page at / (naming the API prefix, with
a content security policy), its assets, without the API's token, and nothing with ui=False."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from rxflow import create_step, create_workflow
from rxflow.server import create_app
from rxflow.server.viewer import UI_DIRECTORY


async def echo(ctx: Any) -> Any:
    return ctx.input_data


def workflows() -> dict[str, Any]:
    return {"echo": create_workflow(id="echo").then(create_step(id="e", execute=echo)).commit()}


def test_the_page_and_its_assets_are_served_at_the_root() -> None:
    with TestClient(create_app(workflows())) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert '<meta name="rxflow-api-prefix" content="/api">' in page.text
        scripts = [line for line in page.text.splitlines() if "<script" in line]
        assert scripts == [
            '    <script type="module" crossorigin src="./assets/viewer.js"></script>'
        ]
        script = client.get("/assets/viewer.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert script.content == (UI_DIRECTORY / "assets" / "viewer.js").read_bytes()
        assert client.get("/assets/index.css").status_code == 200
        assert client.get("/assets/missing.js").status_code == 404
        assert list(client.get("/api/workflows").json()) == ["echo"]


def test_the_page_names_the_apps_own_api_prefix() -> None:
    with TestClient(create_app(workflows(), api_prefix="/v1/mastra/")) as client:
        assert '<meta name="rxflow-api-prefix" content="/v1/mastra">' in client.get("/").text
        assert client.get("/v1/mastra/workflows").status_code == 200


def test_the_page_needs_no_token_and_the_api_still_does() -> None:
    with TestClient(create_app(workflows(), auth_token="s3cret")) as client:
        assert client.get("/").status_code == 200
        assert client.get("/assets/viewer.js").status_code == 200
        assert client.get("/api/workflows").status_code == 401
        allowed = client.get("/api/workflows", headers={"authorization": "Bearer s3cret"})
        assert allowed.status_code == 200


@pytest.mark.parametrize("path", ["/", "/assets/viewer.js"])
def test_ui_false_serves_no_viewer(path: str) -> None:
    with TestClient(create_app(workflows(), ui=False)) as client:
        assert client.get(path).status_code == 404
        assert client.get("/api/workflows").status_code == 200
