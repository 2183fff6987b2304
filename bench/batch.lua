-- wrk script: /predict with a batch of rows in one body (1000 by default; BATCH_ROWS sets
-- it). The rows vary inside Iris's feature ranges, made by a fixed-seed generator, so every
-- run sends the same bytes and the trees take different paths row to row.
-- wrk -t1 -c16 -d10s -s bench/batch.lua http://127.0.0.1:8080/predict
local rows = tonumber(os.getenv("BATCH_ROWS") or "1000")

-- Park-Miller's generator (products stay below 2^53, exact in Lua's doubles): Lua's own
-- math.random differs between builds.
local state = 12345
local function uniform(low, high)
  state = (state * 16807) % 2147483647
  return low + (high - low) * state / 2147483647
end

-- Iris's range per feature: sepal length, sepal width, petal length, petal width (cm).
local ranges = { { 4.3, 7.9 }, { 2.0, 4.4 }, { 1.0, 6.9 }, { 0.1, 2.5 } }
local body = {}
for i = 1, rows do
  local row = {}
  for j, range in ipairs(ranges) do
    row[j] = string.format("%.1f", uniform(range[1], range[2]))
  end
  body[i] = "[" .. table.concat(row, ",") .. "]"
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"input":[' .. table.concat(body, ",") .. ']}'
