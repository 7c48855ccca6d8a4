-- POST /api/v1/orders with the token and item given in the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.body = '{"lines": [{"item_id": "' .. os.getenv("BENCH_ITEM") .. '", "quantity": 1}], "payment_method": "pm_card_visa"}'
