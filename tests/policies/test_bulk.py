"""Garbage collection while a batch runs (policies.bulk.fewer_collections)."""

import gc
import threading

import pytest

from policies.bulk import BATCH_YOUNG, fewer_collections


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_a_batch_collects_less_often_and_puts_the_thresholds_back(thresholds):
    with fewer_collections():
        assert gc.get_threshold()[0] == BATCH_YOUNG
    assert gc.get_threshold() == (700, 10, 10)
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("the batch failed")
    assert gc.get_threshold() == (700, 10, 10)  # a failed batch too


def test_batches_in_threads_at_once_restore_when_the_last_ends(thresholds):
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with fewer_collections():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with fewer_collections():
            second_in.set()
            first_out.wait(5)
            seen["after the first ended"] = gc.get_threshold()[0]

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"after the first ended": BATCH_YOUNG}
    assert gc.get_threshold() == (700, 10, 10)
