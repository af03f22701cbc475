-- wrk script: POST batches of 500 records to /router/records (one body, built once).
local models = {"gpt-4", "gpt-3.5-turbo", "claude-3-opus", "claude-3-sonnet", "llama-2-70b"}
local items = {}
for i = 1, 500 do
  items[i] = string.format(
    '{"model": "%s", "latency": %.3f, "cost": %.4f, "success": %s}',
    models[(i % 5) + 1], 0.2 + (i % 17) / 10, 0.001 * ((i % 7) + 1), (i % 10 ~= 0) and "true" or "false")
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"records": [' .. table.concat(items, ", ") .. ']}'
