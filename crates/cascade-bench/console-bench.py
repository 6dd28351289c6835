"""Times the console's pages in headless Chromium (Debian's, through Playwright).

Run by `cascade-bench console` over the store it filled; input on stdin as JSON:
{"base", "chromium", "app_id", "secret", "runs", "pages": [{"name", "paths": [...]}]}.
Each page kind is loaded `runs` times (paths taken in turn) after one warm-up load, in
one tab (signed in after the signed-out kinds). For each load the Navigation Timing and Paint Timing entries give:
time to first byte, first contentful paint (the first render), the load event, and the
bytes transferred (the document and whatever else it fetched; the stylesheet comes from
the cache after the first load). Prints one JSON object per page kind.
"""

import json
import sys

from playwright.sync_api import sync_playwright

TIMING = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const res = performance.getEntriesByType('resource');
  return {
    ttfb: n.responseStart - n.startTime,
    fcp: fcp ? fcp.startTime : null,
    load: n.loadEventEnd - n.startTime,
    doc_bytes: n.transferSize,
    body_bytes: n.decodedBodySize,
    other_bytes: res.reduce((a, r) => a + r.transferSize, 0),
  };
}"""


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    cfg = json.load(sys.stdin)
    base = cfg["base"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=cfg["chromium"],
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        signed_in = False
        for kind in cfg["pages"]:
            if not kind.get("signed_out") and not signed_in:
                page.goto(f"{base}/console/login")
                page.fill("#app-login input[name=application_id]", cfg["app_id"])
                page.fill("#app-login input[name=secret]", cfg["secret"])
                page.click("#app-login button")
                page.wait_for_url("**/console/trackings")
                signed_in = True
            samples = []
            paths = kind["paths"]
            for i in range(cfg["runs"] + 1):
                response = page.goto(base + paths[i % len(paths)], wait_until="load")
                assert response.status == 200, (kind["name"], response.status)
                assert response.url == base + paths[i % len(paths)], (response.url, paths[i % len(paths)])
                page.wait_for_function(
                    "() => performance.getEntriesByName('first-contentful-paint').length > 0",
                    timeout=10_000)
                if i > 0:  # the first load warms the cache (stylesheet) and the store
                    samples.append(page.evaluate(TIMING))
            out = {"name": kind["name"], "runs": len(samples)}
            for key in ["ttfb", "fcp", "load"]:
                vals = [s[key] for s in samples if s[key] is not None]
                out[key] = {"p50": pct(vals, 50), "p99": pct(vals, 99)}
            out["doc_bytes"] = pct([s["doc_bytes"] for s in samples], 50)
            out["body_bytes"] = pct([s["body_bytes"] for s in samples], 50)
            out["other_bytes"] = pct([s["other_bytes"] for s in samples], 50)
            print(json.dumps(out), flush=True)
        browser.close()


if __name__ == "__main__":
    main()
