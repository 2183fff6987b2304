"""The tutorial's training step, as the tutorial writes it: a 100-tree random forest on
Iris, saved with joblib. bench/compare.sh runs it once, in this folder's working copy
under target/bench/tutorial, to make model.joblib for app.py.
"""
import joblib
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

iris = load_iris()
X, y = iris.data, iris.target

model = RandomForestClassifier(n_estimators=100)
model.fit(X, y)

joblib.dump(model, "model.joblib")
