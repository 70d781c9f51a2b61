import math

from softreg.epochs.loop import EpochTotals, run_epochs


class FakeTrainer:
    """Loss follows a script; the 'weights' are the epoch counter."""

    def __init__(self, losses, interrupt_at=None, lr=math.nan):
        self.losses = losses
        self.lr = lr
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
        return EpochTotals(loss * 10, 7, 10, lr=self.lr)

    def evaluate(self, split):
        return EpochTotals(5.0, 8, 10)

    def snapshot(self):
        return self.weights

    def restore(self, state):
        self.weights = state


def test_records_every_epoch():
    t = FakeTrainer([1.0, 0.5, 0.25], lr=0.1)  # the trainer reports the rate it used
    h = run_epochs(t, 3)
    assert h.status == "completed"
    assert h.column("train_loss") == [1.0, 0.5, 0.25]
    assert h.column("train_acc") == [0.7] * 3 and h.column("test_acc") == [0.8] * 3
    assert h.column("lr") == [0.1] * 3
    assert t.weights == 3
    assert math.isnan(run_epochs(FakeTrainer([1.0]), 1).column("lr")[0])  # one that does not say


def test_divergence_keeps_last_good_weights_and_says_so():
    t = FakeTrainer([1.0, 0.5, math.nan, 0.1])
    h = run_epochs(t, 4)
    assert h.status == "diverged"
    assert len(h) == 2
    assert t.weights == 2
    assert h.message == (
        "training diverged in epoch 3: the mean train loss is nan, not finite; the weights of "
        "epoch 2 were kept. Lower the learning rate and try again.")


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
    assert h.message == ("interrupted by the user after 2 finished epoch(s); the weights of "
                         "the last finished epoch were kept")


def test_interrupt_in_a_callback_keeps_the_finished_epoch_with_its_weights():
    """A Ctrl-C while a callback writes the checkpoint must not pair epoch 2's record with
    epoch 1's weights (a resume would then skip an epoch)."""

    def interrupt_after_epoch_2(rec, hist):
        if rec.epoch == 2:
            raise KeyboardInterrupt

    t = FakeTrainer([1.0, 0.5, 0.4])
    h = run_epochs(t, 3, callbacks=[interrupt_after_epoch_2])
    assert h.status == "interrupted"
    assert len(h) == 2 and t.weights == 2
    assert h.message.endswith("the weights of the last finished epoch were kept")


def test_interrupt_during_evaluation_rolls_back_the_unrecorded_epoch():
    class InterruptInEval(FakeTrainer):
        def evaluate(self, split):
            if self.weights == 2:
                raise KeyboardInterrupt
            return super().evaluate(split)

    t = InterruptInEval([1.0, 0.5, 0.4])
    h = run_epochs(t, 3)
    assert h.status == "interrupted" and len(h) == 1 and t.weights == 1


class UnreachableState(FakeTrainer):
    """A from-scratch net: the trainer cannot see (or restore) the weights."""

    def snapshot(self):
        return None

    def restore(self, state):
        raise AssertionError("restore must not be called without a snapshot")


def test_divergence_without_reachable_weights_says_nothing_was_put_back():
    t = UnreachableState([1.0, math.inf])
    h = run_epochs(t, 2)
    assert h.status == "diverged" and t.weights == -1
    assert "the weights could not be put back (the trainer cannot reach the parameters of a " \
           "plain function net): re-initialise them before training again" in h.message
    assert "were kept" not in h.message


def test_interrupt_before_any_epoch_leaves_weights_unchanged():
    class InterruptFirstSnapshot(FakeTrainer):
        def snapshot(self):
            raise KeyboardInterrupt

    t = InterruptFirstSnapshot([1.0])
    h = run_epochs(t, 1)
    assert h.status == "interrupted" and t.weights == 0 and len(h) == 0
    assert h.message.endswith("no epoch had started, so the weights are unchanged")


def test_callback_can_stop_and_resume_continues_history():
    t = FakeTrainer([1.0, 0.5, 0.4, 0.3])
    h = run_epochs(t, 4, callbacks=[lambda rec, hist: rec.epoch == 2])
    assert h.status == "early_stopped" and len(h) == 2
    h2 = run_epochs(t, 4, start_epoch=2, history=h)
    assert h2.status == "completed"
    assert [r.epoch for r in h2.records] == [1, 2, 3, 4]
