"""Calls through grantd's proxy with an API key; handles the connect link."""
import json
import os
import urllib.error
import urllib.parse
import urllib.request

GRANTD_URL = os.environ.get("GRANTD_URL", "{{GRANTD_URL}}").rstrip("/")
KEY = os.environ["GRANTD_API_KEY"]


def call(datasource, path, method="GET", query=None, body=None, end_user=None):
    url = f"{GRANTD_URL}/api/v1/datasources/{urllib.parse.quote(datasource)}/proxy/{path.lstrip('/')}"
    if query:
        url += "?" + urllib.parse.urlencode(query, doseq=True)
    headers = {"Authorization": f"Bearer {KEY}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if end_user:
        headers["Grantd-End-User"] = end_user
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        problem = e.read().decode("utf-8", "replace")
        if e.code == 424:  # not connected: hand the person the link, then retry
            link = json.loads(problem).get("connectUrl")
            raise RuntimeError(f"ask the person to open {link}, then call again") from None
        return e.code, problem


if __name__ == "__main__":
    print(call("Weather", "/forecast", query={"city": "Oslo"}))
