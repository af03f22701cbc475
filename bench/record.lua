-- wrk script: POST one record per request, cycling over five models.
local models = {"gpt-4", "gpt-3.5-turbo", "claude-3-opus", "claude-3-sonnet", "llama-2-70b"}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  local body = string.format(
    '{"model": "%s", "latency": %.3f, "cost": %.4f, "success": %s}',
    models[(i % 5) + 1], 0.2 + (i % 17) / 10, 0.001 * ((i % 7) + 1), (i % 10 ~= 0) and "true" or "false")
  return wrk.format(nil, nil, nil, body)
end
