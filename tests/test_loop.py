import math

from softreg.backends.base import EpochTotals
from softreg.loop import run_epochs


class FakeTrainer:
    """Loss follows a script; the 'weights' are the epoch counter."""

    def __init__(self, losses, interrupt_at=None):
        self.losses = losses
        self.interrupt_at = interrupt_at
        self.weights = 0

    def train_epoch(self, epoch):
        if epoch == self.interrupt_at:
            self.weights = -999  # half-updated state that must be rolled back
            raise KeyboardInterrupt
        self.weights = epoch + 1
        loss = self.losses[epoch]
        if not math.isfinite(loss):
            self.weights = -1
        return EpochTotals(loss * 10, 7, 10)

    def evaluate(self, split):
        return EpochTotals(5.0, 8, 10)

    def snapshot(self):
        return self.weights

    def restore(self, state):
        self.weights = state


def test_records_every_epoch():
    t = FakeTrainer([1.0, 0.5, 0.25])
    h = run_epochs(t, 3, lr_for_epoch=lambda e: 0.1)
    assert h.status == "completed"
    assert h.column("train_loss") == [1.0, 0.5, 0.25]
    assert h.column("train_acc") == [0.7] * 3 and h.column("test_acc") == [0.8] * 3
    assert h.column("lr") == [0.1] * 3
    assert t.weights == 3


def test_divergence_keeps_last_good_weights_and_says_so():
    t = FakeTrainer([1.0, 0.5, math.nan, 0.1])
    h = run_epochs(t, 4)
    assert h.status == "diverged"
    assert len(h) == 2
    assert t.weights == 2
    assert "training diverged in epoch 3: the mean train loss is nan, not finite" in h.message
    assert "Lower the learning rate" in h.message


def test_exploding_finite_loss_counts_as_divergence():
    t = FakeTrainer([1.0, 3.7e6, 0.5])
    h = run_epochs(t, 3)
    assert h.status == "diverged" and t.weights == 1
    assert "the mean train loss is 3.7e+06, above the limit 230.3" in h.message
    assert run_epochs(FakeTrainer([1.0, 3.7e6]), 2, max_loss=1e7).status == "completed"


def test_interrupt_restores_last_finished_epoch():
    t = FakeTrainer([1.0, 0.5, 0.4], interrupt_at=2)
    h = run_epochs(t, 3)
    assert h.status == "interrupted"
    assert len(h) == 2 and t.weights == 2
    assert "after 2 finished epoch(s)" in h.message


def test_callback_can_stop_and_resume_continues_history():
    t = FakeTrainer([1.0, 0.5, 0.4, 0.3])
    h = run_epochs(t, 4, callbacks=[lambda rec, hist: rec.epoch == 2])
    assert h.status == "early_stopped" and len(h) == 2
    h2 = run_epochs(t, 4, start_epoch=2, history=h)
    assert h2.status == "completed"
    assert [r.epoch for r in h2.records] == [1, 2, 3, 4]
