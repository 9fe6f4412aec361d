"""Dual arrays inside compiled code: what loop-style user code touches."""

import numpy as np
import pytest

import dualdiff as dd

X = np.array([0.5, -1.0, 2.0, 3.0])


def slices_and_negative_indices(x):
    head = x[:2]
    tail = x[-2:]
    return head[0] * tail[1] + x[-1] * x[1:3][1]


def assignment_forms(x):
    out = np.zeros_like(x)
    out[0] = x[0] * x[1]
    out[1] = 2.0          # a plain number becomes a constant dual
    out[2:] = x[:2]       # slice assignment from a dual array
    out[-1] = out[-1] + x[3]
    return out


def shape_size_and_allocations(x):
    ones = np.ones_like(x)
    empty = np.empty_like(x)
    for i in range(x.size):
        empty[i] = x[i] * ones[i] * x.shape[0] * x.ndim
    copy = empty.copy()
    copy[0] = 0.0         # must not touch `empty`
    return empty


def iteration_and_list_output(x):
    squares = []
    for xi in x:
        squares.append(xi * xi)
    return squares


def test_slices_and_negative_indices():
    J = dd.gradient(slices_and_negative_indices, X)
    # x0 * x3 + x3 * x2
    np.testing.assert_array_equal(J, [X[3], 0.0, X[3], X[0] + X[2]])


def test_assignment_forms():
    value, J = dd.value_and_jacobian(assignment_forms, X)
    np.testing.assert_array_equal(value, [X[0] * X[1], 2.0, X[0], X[1] + X[3]])
    expected = np.zeros((4, 4))
    expected[0, 0], expected[0, 1] = X[1], X[0]
    expected[2, 0] = 1.0
    expected[3, 1] = expected[3, 3] = 1.0
    np.testing.assert_array_equal(J, expected)


def test_shape_size_allocations_and_copy_independence():
    value, J = dd.value_and_jacobian(shape_size_and_allocations, X)
    np.testing.assert_array_equal(value, 4.0 * X)
    np.testing.assert_array_equal(J, 4.0 * np.eye(4))


def test_iteration_and_list_output():
    value, J = dd.value_and_jacobian(iteration_and_list_output, X)
    np.testing.assert_array_equal(value, X ** 2)
    np.testing.assert_array_equal(J, np.diag(2 * X))


def writes_past_the_end(x):
    out = np.empty_like(x)
    out[len(x)] = x[0]
    return out


def test_out_of_range_assignment_raises():
    with pytest.raises(IndexError):
        dd.jacobian(writes_past_the_end, X)
