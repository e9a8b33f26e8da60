"""The trees as scikit-learn estimators: check_estimator, clone, pipelines, grid search,
DataFrames with feature names; and the same protocol without scikit-learn."""
import warnings

import numpy as np
import pytest
from helpers import require, run_python

from minprune import tree


@pytest.fixture(scope="module")
def sklearn():
    return require("sklearn")


@pytest.mark.parametrize("cls", [tree.DecisionTreeClassifier, tree.DecisionTreeRegressor])
def test_check_estimator_passes(sklearn, cls):
    require("pandas")                       # the DataFrame checks run only with pandas
    from sklearn.utils.estimator_checks import check_estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(cls(), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert not failed
    assert skipped <= {"check_array_api_input"}      # needs SCIPY_ARRAY_API in the environment
    assert len(results) >= 50


def test_clone_pipeline_grid_search_and_cross_validation(sklearn):
    from sklearn.base import clone
    from sklearn.datasets import load_wine
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, y = load_wine(return_X_y=True)
    est = tree.DecisionTreeClassifier(max_depth=3)
    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params()
    scores = cross_val_score(make_pipeline(StandardScaler(), est), X, y, cv=3)
    assert len(scores) == 3 and scores.mean() > 0.7
    search = GridSearchCV(tree.DecisionTreeClassifier(), {"max_depth": [1, 2, 4]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["max_depth"] in (2, 4) and search.best_estimator_.tree_
    assert repr(tree.DecisionTreeClassifier(max_depth=3)) == \
        "DecisionTreeClassifier(max_depth=3)"


def test_set_params_names_the_valid_ones():
    est = tree.DecisionTreeRegressor()
    assert est.set_params(max_depth=2) is est and est.max_depth == 2
    with pytest.raises(ValueError, match="Invalid parameter 'depth'.*max_depth"):
        est.set_params(depth=3)
    assert est.get_params(deep=True)["max_depth"] == 2


def test_feature_names_from_a_dataframe(sklearn):
    pd = require("pandas")
    from sklearn.datasets import load_iris
    data = load_iris(as_frame=True)
    X, y = data.data, data.target
    est = tree.DecisionTreeClassifier(max_depth=2).fit(X, y)
    assert list(est.feature_names_in_) == list(X.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        est.predict(X.to_numpy())
    renamed = X.rename(columns={X.columns[0]: "other"})
    with pytest.raises(ValueError, match="feature names should match"):
        est.predict(renamed)
    plain = tree.DecisionTreeClassifier(max_depth=2).fit(X.to_numpy(), y)
    assert not hasattr(plain, "feature_names_in_")
    with pytest.warns(UserWarning, match="fitted without feature names"):
        plain.predict(pd.DataFrame(X.to_numpy(), columns=X.columns))


def test_fitted_attributes_and_importances_equal_scikit_learn(sklearn):
    """Where the two libraries grow the same tree (no tied splits: scikit-learn breaks ties
    by its random feature order, minprune by the lowest index), importances agree."""
    from sklearn.datasets import make_classification
    from sklearn.tree import DecisionTreeClassifier
    compared = 0
    for seed in range(5):
        X, y = make_classification(600, 8, n_informative=5, flip_y=0.0, random_state=seed)
        ours = tree.DecisionTreeClassifier(max_depth=3).fit(X, y)
        theirs = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
        assert (ours.n_classes_, ours.n_outputs_, ours.n_features_in_) == \
            (theirs.n_classes_, theirs.n_outputs_, theirs.n_features_in_)
        if ours.n_tied_splits_ == 0:
            np.testing.assert_array_equal(ours.tree_.feature, theirs.tree_.feature)
            np.testing.assert_allclose(ours.feature_importances_,
                                       theirs.feature_importances_, rtol=1e-10)
            compared += 1
    assert compared >= 2


def test_the_protocol_without_scikit_learn():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "import numpy as np\n"
            "from minprune import tree\n"
            "from minprune.tree.base import NotFittedError\n"
            "est = tree.DecisionTreeClassifier(max_depth=2)\n"
            "assert repr(est) == 'DecisionTreeClassifier(max_depth=2)', repr(est)\n"
            "assert est.set_params(max_depth=3).get_params()['max_depth'] == 3\n"
            "try:\n    est.predict(np.zeros((1, 2)))\nexcept NotFittedError as e:\n"
            "    assert isinstance(e, ValueError)\nelse:\n    raise SystemExit('no error')\n"
            "try:\n    est.set_params(nope=1)\nexcept ValueError as e:\n"
            "    assert 'max_depth' in str(e)\n"
            "est.fit(np.random.default_rng(0).random((30, 2)), np.arange(30) % 2)\n"
            "assert est.feature_importances_.sum() == 1.0\n")
    run_python(code)
