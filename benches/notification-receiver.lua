-- wrk script: POST a Graph change-notification batch to the receiver.
-- BODY_FILE comes from the environment (scripts/bench-receiver sets it).
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
