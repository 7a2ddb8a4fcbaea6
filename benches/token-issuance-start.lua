-- wrk script: POST a tokenIssuanceStart callout with a bearer token.
-- TOKEN and BODY_FILE come from the environment (scripts/bench-load sets them).
local token = os.getenv("TOKEN")
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
