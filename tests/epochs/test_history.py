import math

from softreg.epochs.history import EpochRecord, History


def _hist() -> History:
    records = [EpochRecord(1, 0.8, 0.75, test_acc=0.77), EpochRecord(2, 0.5, 0.83, test_acc=0.81)]
    return History(records)


def test_repr_is_one_line_with_the_last_epoch():
    assert repr(_hist()) == (
        "History(2 epochs, completed; last: train loss 0.5000, train acc 0.8300, test acc 0.8100)"
    )
    assert repr(History(status="interrupted")) == "History(0 epochs, interrupted)"


def test_json_round_trip_keeps_records_and_status():
    hist = _hist()
    hist.status, hist.message = "diverged", "why"
    back = History.from_dict(hist.to_dict())
    assert back.status == "diverged" and back.message == "why"
    assert back.column("test_acc") == [0.77, 0.81]
    assert math.isnan(back.records[0].val_acc)


def test_csv_leaves_missing_metrics_empty():
    lines = _hist().to_csv().splitlines()
    assert lines[0].startswith("epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc")
    assert lines[1].split(",")[:5] == ["1", "0.8", "0.75", "", ""]
