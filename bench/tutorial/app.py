"""The tutorial's server, as the tutorial writes it: FastAPI, a pydantic model for the
body, the joblib model loaded at start, `model.predict([features])` per request.
Served by `uvicorn app:app --workers 1` (one process, as in the tutorial's image).

One change: the field is `input`, not the tutorial's feature-list name, so that the
body is the function's `{"input":[5.1,3.5,1.4,0.2]}` and one wrk script
(bench/predict.lua) drives both servers with the same bytes.
"""
from typing import List

import joblib
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
model = joblib.load("model.joblib")


class IrisRequest(BaseModel):
    input: List[float]


@app.post("/predict")
def predict(request: IrisRequest):
    prediction = model.predict([request.input])
    return {"prediction": prediction.tolist()}
