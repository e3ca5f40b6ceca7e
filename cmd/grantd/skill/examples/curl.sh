#!/bin/sh
# Calls through grantd's proxy with an API key (permissions read, proxy).
set -eu
: "${GRANTD_URL:={{GRANTD_URL}}}"
: "${GRANTD_API_KEY:?set GRANTD_API_KEY to a grantd API key}"

# Which datasources are there?
curl -sf "$GRANTD_URL/api/v1/datasources" -H "Authorization: Bearer $GRANTD_API_KEY"

# GET with a query on a shared datasource named Weather.
curl -sf "$GRANTD_URL/api/v1/datasources/Weather/proxy/forecast?city=Oslo" \
  -H "Authorization: Bearer $GRANTD_API_KEY"

# POST JSON for one end user of a per-user datasource named Calendar.
curl -s "$GRANTD_URL/api/v1/datasources/Calendar/proxy/events" \
  -H "Authorization: Bearer $GRANTD_API_KEY" -H "Grantd-End-User: u_123" \
  -H "Content-Type: application/json" -d '{"title": "Review", "start": "2026-12-01T10:00:00Z"}'
