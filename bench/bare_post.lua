-- bench/bare_bench.py: the bare bench's post.lua with the bot's path and secret (PATH, SECRET are
-- filled in); update ids start high so none collides with the warm-up's (a duplicate is skipped, which
-- would flatter the bot).
local n = 0
request = function()
  n = n + 1
  local user = 1000 + (n % 500)
  local body = string.format('{"update_id":%d,"message":{"message_id":%d,"date":1700000000,"chat":{"id":%d,"type":"private"},"from":{"id":%d,"is_bot":false,"first_name":"u"},"text":"/start","entities":[{"type":"bot_command","offset":0,"length":6}]}}', 50000000 + n, n, user, user)
  return wrk.format("POST", "PATH", {["Content-Type"]="application/json", ["X-Telegram-Bot-Api-Secret-Token"]="SECRET"}, body)
end
