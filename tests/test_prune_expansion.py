"""The two terms of the predicted loss change against direct computations on a tiny network."""
import numpy as np
import pytest
from helpers import loss_of, tiny_network

from minprune import nn, prune
from minprune.prune.expansion import expansion


def tiny(rng):
    return tiny_network(rng, nn.Tanh)


loss = loss_of


def directional(model, data, members, eps=1e-6):
    """(L(w + eps d) - L(w - eps d)) / 2 eps for d = -w on the group's entries."""
    saved = [(p, idx, p.data[idx].copy()) for p, idx in members]
    values = []
    for sign in (1, -1):
        for p, idx, w in saved:
            p.data[idx] = w - sign * eps * w
        values.append(loss(model, data))
    for p, idx, w in saved:
        p.data[idx] = w
    return (values[0] - values[1]) / (2 * eps)


def test_first_order_term_is_the_directional_derivative_of_the_removal(rng):
    model, data = tiny(rng)
    e = expansion(model, "weight", data)
    w = model[0].weight
    for idx in [(0, 0), (1, 3), (3, 4)]:
        assert e.first["0"][idx] == pytest.approx(directional(model, data, [(w, idx)]),
                                                  rel=1e-6, abs=1e-10)
    e = expansion(model, "unit", data)
    for k in range(4):                               # unit k: row, bias, next layer's column
        members = [(model[0].weight, (k, slice(None))), (model[0].bias, (k,)),
                   (model[2].weight, (slice(None), k))]
        assert e.first["0"][k] == pytest.approx(directional(model, data, members),
                                                rel=1e-6, abs=1e-10)


def test_second_order_term_is_obd_and_the_first_is_taylor_squared(rng):
    model, data = tiny(rng)
    for granularity in ("weight", "unit"):
        e = expansion(model, granularity, data)
        obd = prune.scores(model, "obd", granularity, data).values
        taylor = prune.scores(model, "taylor", granularity, data).values  # one batch of 12
        for name in e.first:
            np.testing.assert_allclose(e.second[name], obd[name], rtol=1e-12)
            np.testing.assert_allclose(e.first[name] ** 2, taylor[name], rtol=1e-9, atol=1e-15)
            np.testing.assert_allclose(e.predicted()[name], e.first[name] + e.second[name])


def test_expansion_refuses_patterns_by_name(rng):
    model, data = tiny(rng)
    with pytest.raises(ValueError, match="granularity must be .* got '2:4'"):
        expansion(model, "2:4", data)
