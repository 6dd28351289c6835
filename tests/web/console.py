"""Drives the Cascade console in headless Chromium (Debian's, through Playwright).

Run by crates/cascade/tests/api/console.rs against a server it started; the test passes
what it made as JSON on stdin:

    {"base", "chromium", "shots", "app_id", "app_secret", "admin_token",
     "failover_flow", "hostile_flow", "other_account_flow", "dead_callback", "phone_prefix"}

Each check fails with an AssertionError that says what was expected; the last line of
stdout is a JSON summary the Rust test reads (what the browser saw).
"""

import json
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def main() -> None:
    cfg = json.load(sys.stdin)
    base = cfg["base"]
    shots = Path(cfg["shots"])
    shots.mkdir(parents=True, exist_ok=True)
    seen = {"console_errors": []}

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=cfg["chromium"],
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        # Anything the page tries to run, or any CSP violation, shows up here. The
        # refusals this script provokes on purpose (401, 403, 404) are logged by the
        # browser as failed loads and are checked one by one below instead.
        page.on("console", lambda m: seen["console_errors"].append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None)
        page.on("pageerror", lambda e: seen["console_errors"].append(str(e)))

        # --- sign in as the application ------------------------------------------------
        first = page.goto(f"{base}/console")
        assert page.url.endswith("/console/login"), page.url
        assert first.headers.get("content-security-policy") == CSP, first.headers
        assert first.headers.get("x-frame-options") == "DENY", first.headers

        page.fill("#app-login input[name=application_id]", cfg["app_id"])
        page.fill("#app-login input[name=secret]", "not-the-secret")
        with page.expect_response(lambda r: r.url.endswith("/console/login")) as refused:
            page.click("#app-login button")
        assert refused.value.status == 401, refused.value.status
        assert "were not accepted" in page.inner_text("[role=alert]")

        page.fill("#app-login input[name=application_id]", cfg["app_id"])
        page.fill("#app-login input[name=secret]", cfg["app_secret"])
        page.click("#app-login button")
        page.wait_for_url("**/console/trackings")
        cookies = {c["name"]: c for c in context.cookies()}
        session = cookies["cascade_console"]
        assert session["httpOnly"] and session["sameSite"] == "Strict", session

        # --- find the flow ------------------------------------------------------------
        rows = page.locator("#results tbody tr")
        seen["listed"] = rows.count()
        listed_ids = page.locator("#results a.flow-link").all_inner_texts()
        assert cfg["failover_flow"] in listed_ids, listed_ids
        assert cfg["other_account_flow"] not in listed_ids, "another account's flow is listed"

        page.select_option("select[name=to_op]", "starts_with")
        page.fill("input[name=to]", cfg["phone_prefix"])
        page.select_option("select[name=status]", "Succeeded")
        page.click("#search button")
        page.wait_for_selector("#result-count")
        seen["search_count"] = page.inner_text("#result-count")
        found = page.locator("#results a.flow-link").all_inner_texts()
        assert cfg["failover_flow"] in found, found
        page.screenshot(path=str(shots / "trackings.png"), full_page=True)

        # A bad form is answered with the API's own validation messages (the browser
        # itself stops a page size out of 1-1000; a reversed date range gets through).
        page.fill("input[name=dateStart]", "2026-12-05T10:00")
        page.fill("input[name=dateEnd]", "2026-12-04T10:00")
        page.click("#search button")
        assert "dateEnd" in page.inner_text("#search-errors"), page.content()

        # --- open its timeline --------------------------------------------------------
        page.goto(f"{base}/console/trackings")
        page.click(f"#results a.flow-link:has-text('{cfg['failover_flow']}')")
        page.wait_for_selector("#timeline svg")
        assert page.inner_text("#tracking-id") == cfg["failover_flow"]
        svg = page.locator("#timeline svg")
        seen["timeline"] = {
            kind: svg.locator(f"[data-kind={kind}]").count()
            for kind in ["step", "failover", "submitted", "report", "callback",
                         "flow_completed", "ttl_deadline"]
        }
        assert seen["timeline"]["step"] == 2, seen["timeline"]
        assert seen["timeline"]["failover"] == 1, seen["timeline"]
        box = svg.bounding_box()
        assert box and box["width"] > 600 and box["height"] > 100, box
        assert page.inner_text("#flow-status") == "Succeeded"
        page.screenshot(path=str(shots / "flow.png"), full_page=True)

        # --- what a hostile body does: nothing ----------------------------------------
        page.goto(f"{base}/console/flows/{cfg['hostile_flow']}")
        page.wait_for_selector("#tracking-json")
        text = page.inner_text("#tracking-json")
        assert "<script>window.__pwned=1</script>" in text, text
        assert page.evaluate("() => window.__pwned === undefined")
        assert page.locator("img[src=x]").count() == 0
        seen["hostile_shown_as_text"] = True

        # --- what an application may not see ------------------------------------------
        other = page.goto(f"{base}/console/flows/{cfg['other_account_flow']}")
        assert other.status == 404, other.status
        ops = page.goto(f"{base}/console/operators")
        assert ops.status == 403, ops.status

        # --- a forged form is refused -------------------------------------------------
        forged = context.request.post(
            f"{base}/console/callbacks/{cfg['dead_callback']}/redeliver",
            form={"csrf": "0" * 32}, max_redirects=0)
        assert forged.status == 403, forged.status
        cross = context.request.post(
            f"{base}/console/logout", form={"csrf": "x"},
            headers={"Origin": "http://evil.example"}, max_redirects=0)
        assert cross.status == 403, cross.status

        page.goto(f"{base}/console/trackings")
        page.click("header form button")  # sign out
        page.wait_for_url("**/console/login")
        assert "cascade_console" not in {c["name"] for c in context.cookies()}

        # --- the operator redelivers a dead callback ----------------------------------
        page.fill("#operator-login input[name=admin_token]", cfg["admin_token"])
        page.click("#operator-login button")
        page.wait_for_url("**/console/trackings")
        accounts = page.locator("select[name=account] option").count()
        assert accounts >= 2, accounts
        page.goto(f"{base}/console/flows/{cfg['other_account_flow']}")
        assert page.inner_text("#flow-status") in ("Succeeded", "Failed", "InProgress", "Queued")

        page.goto(f"{base}/console/operators")
        for table in ["#nodes", "#accounts"]:
            assert page.locator(table).count() == 1, table
        dead_row = page.locator(f"tr[data-callback='{cfg['dead_callback']}']")
        assert dead_row.count() == 1, page.content()
        seen["dead_before"] = page.inner_text("#dead-count")
        page.screenshot(path=str(shots / "operators.png"), full_page=True)
        dead_row.locator("button.redeliver").click()
        page.wait_for_url("**/console/operators?notice=redelivered")
        assert "delivered again" in page.inner_text("[role=status]")
        page.screenshot(path=str(shots / "redelivered.png"), full_page=True)

        browser.close()

    assert not seen["console_errors"], seen["console_errors"]
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
