-- wrk script: the tutorial's single-row request.
-- wrk -t1 -c16 -d10s -s bench/predict.lua http://127.0.0.1:8080/predict
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"input":[5.1,3.5,1.4,0.2]}'
