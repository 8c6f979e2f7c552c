package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tcpwave/tcpwave/scenario"
	"github.com/tcpwave/tcpwave/trace"
	"github.com/tcpwave/tcpwave/trace/htmlpage"
)

// summariesZH are the catalog's one-line summaries in Chinese, the
// language of the source documents, for the HTML pages' language switch.
var summariesZH = map[string]string{
	"handshake":             "A 连接 B：SYN、SYN-ACK、ACK（三次握手）",
	"four-way-close":        "A 关闭；B 读到 EOF，等 1 秒后关闭：FIN、ACK、FIN、ACK（四次挥手）；A 在 TIME_WAIT 停留 60 秒",
	"three-way-close":       "一次请求/响应之后，B 的延迟 ACK 与它的 FIN 合并：FIN、FIN-ACK、ACK（三次挥手）",
	"fin-with-data":         "A 的最后一次写和 close() 一起发出：FIN 搭载在数据段上（FP.）",
	"simultaneous-close":    "A 和 B 在同一时刻关闭：双方都经过 CLOSING，都要停留在 TIME_WAIT",
	"half-close":            "A 调用 shutdown(SHUT_WR)；B 读到 EOF，0.5 秒后发数据，1 秒后关闭；A 仍然能收到数据（半关闭）",
	"close-then-data":       "A 调用 close()（不是 shutdown）；B 之后发来的数据换来 RST；B 的 read 得到 EOF，write 得到 EPIPE",
	"lost-fin-1":            "A 发出的 FIN 全部丢失：按 RTO 指数退避重传，重传 tcp_orphan_retries（8）次后 A 静默放弃",
	"lost-ack-2":            "B 对 A 的 FIN 的 ACK 丢失：A 重传 FIN，处于 CLOSE_WAIT 的 B 对重复的 FIN 再次 ACK",
	"lost-fin-3":            "B 的 FIN 丢失：B 在 LAST_ACK 中超时重传 FIN；处于 FIN_WAIT_2 的 A 收到后 ACK",
	"lost-ack-4":            "A 的最后一个 ACK 丢失：B 重传 FIN；处于 TIME_WAIT 的 A 再次 ACK 并重新开始 2MSL 计时",
	"no-time-wait":          "TIME_WAIT 为 0 的 lost-ack-4：A 已经忘记了连接，重传的 FIN 换来 RST，B 的关闭以错误告终",
	"fin-wait-2-timeout":    "B 一直不关闭：A 用 close() 关闭的连接在 FIN_WAIT_2 停留 60 秒后消失；用 shutdown(SHUT_WR) 的则一直等待",
	"time-wait-blocks-bind": "B 的进程先退出；TIME_WAIT（或 FIN_WAIT_2）占着端口时，新的 B 无法 bind，除非设置 SO_REUSEADDR",
	"reuse-port":            "两个设置了 SO_REUSEPORT 的监听套接字绑定同一端口；新连接分散到两者上",
	"old-duplicate":         "已关闭连接的迟到报文段遇上同一四元组上的新连接：TIME_WAIT 把它挡在外面；--time-wait 0 且 ISN 冲突时它会污染新连接的数据",
	"time-wait-reuse":       "序号更大（或时间戳更新）的新 SYN 重新打开 B 处于 TIME_WAIT 的四元组（RFC 6191）",
	"dup-close":             "dup() 过的套接字只有在最后一个句柄关闭时才发 FIN；shutdown(SHUT_RDWR) 立即生效",
	"process-exit":          "A 的协议栈在连接未关闭时退出：每个连接都发出 FIN，A 继续应答直到它们全部结束",
	"close-with-unread":     "A 在接收缓冲区还有未读数据时关闭：发 RST 而不是 FIN（RFC 2525，Linux）",
	"linger-zero":           "A 设置 SO_LINGER {on, 0} 后关闭：发 RST，双方都没有 TIME_WAIT",
	"rst-closed-port":       "发往无人监听端口的 SYN 或游离报文段换来 RST",
	"server-active-close":   "HTTP/1.0 式的服务器应答后先关闭：服务器停留在 TIME_WAIT，客户端最终为 CLOSED",
}

// scenarioPage describes run r of s for htmlpage.Write.
func scenarioPage(s *scenario.Scenario, p scenario.Params, r *scenario.Run, runErr error, index string) htmlpage.Page {
	status := "PASS"
	if runErr != nil {
		first, _, _ := strings.Cut(runErr.Error(), "\n")
		status = "FAIL: " + first
	}
	facts := []string{
		fmt.Sprintf("seed %d", p.Seed),
		fmt.Sprintf("one-way delay %v", p.Link.Delay),
	}
	if p.Link.Loss > 0 {
		facts = append(facts, fmt.Sprintf("loss %g", p.Link.Loss))
	}
	facts = append(facts, fmt.Sprintf("TIME_WAIT %gs", p.A.TCP.TimeWait.Seconds()))
	if s.Tune != nil {
		facts = append(facts, "tuned by the scenario")
	}
	if r != nil {
		if evs := r.Rec.Events(); len(evs) > 0 {
			facts = append(facts, "last event at "+evs[len(evs)-1].T.String())
		}
	}
	facts = append(facts, "seeds "+s.Seeds)
	return htmlpage.Page{
		Title:   s.Name,
		Summary: htmlpage.Text{EN: s.Summary, ZH: summariesZH[s.Name]},
		Left:    htmlpage.Host{Name: "A", Role: htmlpage.Text{EN: "client", ZH: "客户端"}},
		Right:   htmlpage.Host{Name: "B", Role: htmlpage.Text{EN: "server", ZH: "服务器"}},
		Status:  status,
		Facts:   facts,
		Index:   index,
	}
}

// writeHTMLFile writes run r of s as an HTML page to path.
func writeHTMLFile(path string, s *scenario.Scenario, p scenario.Params, r *scenario.Run, runErr error, index string) error {
	if r == nil {
		return fmt.Errorf("no trace of %s to draw: %v", s.Name, runErr)
	}
	return writeFileWith(path, func(w io.Writer) error {
		return htmlpage.Write(w, r.Rec.Events(), scenarioPage(s, p, r, runErr, index))
	})
}

// writeFileWith creates path and writes it with write, buffered: the
// first error of the write and the flush (a failed write leaves the
// flush the same error), and the close's.
func writeFileWith(path string, write func(w io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if err = write(bw); err == nil {
		err = bw.Flush()
	}
	return errors.Join(err, f.Close())
}

// htmlSite is the --all --html directory: one page per scenario and an
// index. A nil *htmlSite does nothing.
type htmlSite struct {
	dir     string
	entries []htmlpage.IndexEntry
}

// newHTMLSite makes dir; it returns nil if dir is empty.
func newHTMLSite(dir string) (*htmlSite, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &htmlSite{dir: dir}, nil
}

// add writes the page of one run and remembers it for the index.
func (h *htmlSite) add(s *scenario.Scenario, p scenario.Params, r *scenario.Run, runErr error) error {
	if h == nil {
		return nil
	}
	name := s.Name + ".html"
	if err := writeHTMLFile(filepath.Join(h.dir, name), s, p, r, runErr, "index.html"); err != nil {
		return err
	}
	e := htmlpage.IndexEntry{Name: s.Name, Href: name, Summary: htmlpage.Text{EN: s.Summary, ZH: summariesZH[s.Name]}, Status: "PASS"}
	if runErr != nil {
		e.Status = "FAIL"
	}
	for _, ev := range r.Rec.Events() {
		switch ev.Kind {
		case trace.KindSend:
			e.Segments++
		case trace.KindDrop:
			e.Lost++
		}
	}
	h.entries = append(h.entries, e)
	return nil
}

// finish writes index.html.
func (h *htmlSite) finish() error {
	if h == nil {
		return nil
	}
	f, err := os.Create(filepath.Join(h.dir, "index.html"))
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = htmlpage.WriteIndex(bw, htmlpage.Index{
		Title:   htmlpage.Text{EN: "tcpwave scenarios", ZH: "tcpwave 场景"},
		Intro:   htmlpage.Text{EN: "Every case of the catalog, run on the simulated network: a ladder diagram and the RFC 9293 state diagram for each.", ZH: "目录中的每个场景都在模拟网络上运行：每个场景一张时序图和一张 RFC 9293 状态转换图。"},
		Entries: h.entries,
	})
	return errors.Join(err, bw.Flush(), f.Close())
}
