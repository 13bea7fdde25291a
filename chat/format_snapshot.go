package chat

import "strings"

// ModeSnapshot is [ModeDelta] with "snapshot" events instead of "delta"
// and "reasoning": each carries all the answer's text so far and all its
// reasoning so far ({"text":"...","reasoning":"..."}, reasoning omitted
// while there is none), for clients that replace rather than append. Tool
// and data events are as in delta mode.
const ModeSnapshot Mode = "snapshot"

// SnapshotData is the data of the "snapshot" event.
type SnapshotData struct {
	Text      string `json:"text"`
	Reasoning string `json:"reasoning,omitempty"`
}

func init() {
	registerFormat(ModeSnapshot, formatSpec{
		new:              func(info *StreamInfo) wireFormat { return &snapshot{named: newNamed(info), snap: -1} },
		followsReconnect: true,
		doneEvents:       func(*StreamInfo, *Record) int { return 1 },
	})
}

// snapshotBudget is how many bytes of snapshots one batch may repeat
// before its remaining texts become one snapshot.
const snapshotBudget = 64 << 10

// snapshot is the snapshot format. Every piece of text or reasoning gets a
// snapshot of both so far until a batch's snapshots pass snapshotBudget
// bytes; after that, the rest of the batch's pieces become one snapshot
// with the last one's id. So a reader that is far behind (a resume from
// the start) catches up with the text so far about once, not once per
// piece (quadratic).
type snapshot struct {
	*named
	text, reasoning strings.Builder // all so far (the builders only append)
	// snap is the seq of a snapshot not made yet (-1: none).
	snap      int64
	snapBytes int // snapshot text in the batch so far
}

func (f *snapshot) part(e *encoder, r *Record) {
	switch r.Kind {
	case RecordText:
		f.text.WriteString(r.Text)
	case RecordReasoning:
		f.reasoning.WriteString(r.Text)
	case RecordRetract: // snapshots replace: the last one shows the replacement
		f.text.Reset()
		f.text.WriteString(r.Text)
	default:
		if e.skipping() {
			e.none()
			return
		}
		f.catchUp(e)
		f.other(e, r)
		return
	}
	size := f.text.Len() + f.reasoning.Len()
	switch {
	case e.skipping():
		e.none() // skipped: no need to encode it
	case f.snap < 0 && f.snapBytes+size <= snapshotBudget:
		f.snapBytes += size
		f.add(e)
	default:
		f.snap = e.seq // made by the next other event or flush
		e.none()
	}
}

// add adds the snapshot of the text and reasoning so far.
func (f *snapshot) add(e *encoder) {
	e.json.Reset()
	e.json.WriteString(`{"text":`)
	e.quote(f.text.String()) // no copy: the builder only appends
	if f.reasoning.Len() > 0 {
		e.json.WriteString(`,"reasoning":`)
		e.quote(f.reasoning.String())
	}
	e.json.WriteByte('}')
	e.appendData(e.json.Bytes())
	e.push(EventSnapshot)
}

// catchUp makes the snapshot that part put off.
func (f *snapshot) catchUp(e *encoder) {
	if f.snap < 0 {
		return
	}
	seq := e.seq
	e.seq, f.snap = f.snap, -1
	f.add(e)
	e.seq = seq
}

func (f *snapshot) holding() bool { return f.snap >= 0 }

func (f *snapshot) flushed() { f.snapBytes = 0 }
