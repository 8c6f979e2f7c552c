package htmlpage

import (
	"html/template"
	"strings"
)

// htmlCSP forbids every fetch: the pages are single files and load nothing.
const htmlCSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

var pageTemplate = template.Must(template.New("").Funcs(template.FuncMap{
	"n":    f1,
	"csp":  func() string { return htmlCSP },
	"ui":   func(k string) Text { return uiText[k] },
	"add":  func(a, b float64) float64 { return a + b },
	"join": strings.Join,
}).Parse(htmlTemplateText))

const htmlTemplateText = `
{{- define "t" -}}
{{- if and .ZH (ne .ZH .EN) -}}
<span class="l-en" lang="en">{{.EN}}</span><span class="l-zh" lang="zh-CN">{{.ZH}}</span>
{{- else -}}{{.EN}}{{- end -}}
{{- end -}}

{{- define "svgt" -}}
{{- /* an svgText: in both languages when they differ */ -}}
{{- if and .Text.ZH (ne .Text.ZH .Text.EN) -}}
<text class="{{.Class}} l-en" transform="translate({{n .X}},{{n .Y}}){{if .Rot}} rotate({{n .Rot}}){{end}}" text-anchor="{{.Anchor}}">{{.Text.EN}}</text><text class="{{.Class}} l-zh" transform="translate({{n .X}},{{n .Y}}){{if .Rot}} rotate({{n .Rot}}){{end}}" text-anchor="{{.Anchor}}">{{.Text.ZH}}</text>
{{- else -}}
<text class="{{.Class}}" transform="translate({{n .X}},{{n .Y}}){{if .Rot}} rotate({{n .Rot}}){{end}}" text-anchor="{{.Anchor}}">{{.Text.EN}}</text>
{{- end -}}
{{- end -}}

{{- define "head" -}}
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{csp}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tcpwave">
<link rel="icon" href="data:,">
<style>
:root{--a:#2563eb;--a-d:#1e3a8a;--b:#ea580c;--b-d:#9a3412;--lost:#dc2626;--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f6f7f9;
--mono:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono","Liberation Mono",monospace;
--sans:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif}
html:not(.zh) .l-zh,html.zh .l-en{display:none}
*{box-sizing:border-box}
body{margin:0;padding:16px 20px 24px;background:var(--bg);color:var(--ink);font:14px/1.45 var(--sans)}
header.top{display:flex;align-items:center;gap:14px;flex-wrap:wrap}
.brand{font-weight:700;color:#fff;background:var(--ink);border-radius:6px;padding:2px 9px;font-size:13px;letter-spacing:.02em}
h1{font:600 22px/1.2 var(--mono);margin:0}
h2{font-size:15px;margin:0 0 2px}
.badge{font:600 12px var(--sans);padding:2px 8px;border-radius:999px}
.badge.ok{background:#dcfce7;color:#166534}.badge.bad{background:#fee2e2;color:#991b1b}
nav.langs{margin-left:auto;display:flex;border:1px solid #cbd5e1;border-radius:7px;overflow:hidden}
nav.langs button{font:13px var(--sans);border:0;background:#fff;color:var(--ink);padding:4px 12px;cursor:pointer}
nav.langs button[aria-pressed=true]{background:var(--ink);color:#fff}
a.back{font-size:13px;color:var(--a)}
p.summary{margin:8px 0 14px;max-width:1100px;font-size:15px}
main{display:flex;gap:14px;align-items:flex-start;flex-wrap:wrap}
.panel{background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px 14px 8px;width:min-content;flex:none}
.help{margin:0 0 6px;color:var(--muted);font-size:12.5px;max-width:820px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;color:#374151;margin:2px 0 4px}
.legend span{display:inline-flex;align-items:center;gap:5px}
.legend svg{overflow:visible}
svg text{font-family:var(--sans)}
.mono,.seglabel,.pill text,.app text,.held,.fsm .node text,.tick{font-family:var(--mono)}
.tick{font-size:10.5px;fill:#9ca3af}
.tickhead{font-size:10.5px;fill:#9ca3af;font-style:italic}
.hhead rect{rx:7px}
.hname{font:700 17px var(--sans);fill:#fff}
.haddr{font-size:11px;fill:var(--muted)}
.side0{--c:var(--a);--cd:var(--a-d)}.side1{--c:var(--b);--cd:var(--b-d)}
.hhead rect{fill:var(--c)}
.tl{stroke:var(--c);stroke-width:2.5;fill:none}
.tl.dotted{stroke-dasharray:1 6;stroke-linecap:round;stroke-width:3}
.brkmark{stroke:#64748b;stroke-width:1.6;fill:none}
.brk rect{fill:#f1f5f9;stroke:#cbd5e1;stroke-dasharray:3 3}
.brk text{font-size:12.5px;fill:#475569;font-style:italic}
.held{font-size:11.5px;fill:#92400e;font-style:italic}
.seg{cursor:default;outline:none}
.seg .hit{stroke:transparent;stroke-width:16;pointer-events:stroke}
.seg .shaft{stroke:var(--c);stroke-width:1.7;fill:none}
.seg.dashed .shaft{stroke-dasharray:5 4}
.seg.lost .shaft,.seg.dropped .shaft{stroke:var(--lost);stroke-dasharray:7 4}
.seg .cross{stroke:var(--lost);stroke-width:3;stroke-linecap:round;fill:none}
.seglbl text{paint-order:stroke;stroke:#fff;stroke-width:3.5px;stroke-linejoin:round}
.seglabel{font-size:11px;fill:var(--cd)}
.seglbl.lost .seglabel,.seglbl.dropped .seglabel{fill:#991b1b}
.segtag{font-size:10.5px;font-weight:600}
.segtag.rexmit{fill:var(--cd)}
.segtag.lost{fill:var(--lost);font-size:12px;font-weight:700}
.segtag.note{fill:var(--muted);font-weight:400;font-style:italic}
.seg:hover .shaft,.seg.act .shaft,.seg:focus .shaft{stroke-width:3.2}
.seg:focus .hit,.seg.act .hit{stroke:rgba(100,116,139,.13)}
.seglbl:hover .seglabel,.seglbl.rel .seglabel,.seglbl.act .seglabel{font-weight:700}
.seg.rel .shaft{stroke-width:3.2}
.pill rect{stroke-width:1.2;rx:9px}
.pill text{font-size:11.5px;font-weight:700}
.pill .dot{stroke:#fff;stroke-width:1.5}
.pill .ctag{font-family:var(--sans);font-size:10px;fill:var(--muted);font-weight:400}
.state{outline:none}
.state:hover rect,.state:focus rect,.state.act rect,.state.rel rect{stroke-width:2.6}
.state.rel rect{stroke:var(--ink)}
.c-open{--f:#cffafe;--s:#06b6d4;--t:#155e75}.c-est{--f:#dcfce7;--s:#22c55e;--t:#166534}
.c-act{--f:#ede9fe;--s:#8b5cf6;--t:#5b21b6}.c-pas{--f:#fce7f3;--s:#ec4899;--t:#9d174d}
.c-tw{--f:#fef9c3;--s:#eab308;--t:#854d0e}.c-idle{--f:#f1f5f9;--s:#94a3b8;--t:#334155}
.pill rect,.fsm .node rect{fill:var(--f);stroke:var(--s)}
.pill text.st,.fsm .node text.st{fill:var(--t)}
.pill .dot{fill:var(--s)}
.app{outline:none}
.app text{font-size:11px;fill:#374151}
.app .mark{fill:#374151}
.app.eof text{font-weight:700;fill:#111827}
.app.err text{fill:var(--lost);font-weight:700}.app.err .mark{fill:var(--lost)}
.app:hover text,.app:focus text{text-decoration:underline}
.fsm .edge path{stroke:#b6bec9;stroke-width:1.3;fill:none}
.fsm .edge.extra path{stroke-dasharray:5 4}
.fsm .elabel{font-size:9.5px;fill:#6b7280}
.fsm .hl{fill:none;stroke:var(--c);stroke-width:3.2;stroke-linejoin:round;opacity:.9}
.fsm .hl.extra{stroke-dasharray:7 4}
.fsm .hl.rel{stroke-width:6;opacity:1}
.fsm .node text.st{font-size:11.5px;font-weight:700}
.fsm .node.unvisited rect{fill:#fff;stroke:#cbd5e1}.fsm .node.unvisited text.st{fill:#94a3b8}
.fsm .badge circle{fill:var(--c);stroke:#fff;stroke-width:1.5}
.fsm .badge text{font:700 9px var(--sans);fill:#fff}
.paths{margin:6px 0 2px;font-size:12px;display:grid;gap:3px}
.paths div{font-family:var(--mono);font-size:11.5px;color:#374151}
.chip{display:inline-block;min-width:18px;text-align:center;border-radius:4px;color:#fff;font:700 11px var(--sans);padding:1px 4px;margin-right:5px}
.chip.side0{background:var(--a)}.chip.side1{background:var(--b)}
.paths .tag{font-family:var(--sans);color:var(--muted);font-size:11px;margin-right:4px}
footer{margin-top:14px;color:var(--muted);font-size:12px}
footer .facts{font-family:var(--mono)}
.tip{display:none;position:absolute;z-index:10;max-width:560px;background:#fff;border:1px solid #cbd5e1;border-radius:8px;box-shadow:0 6px 24px rgba(15,23,42,.18);padding:8px 10px;font-size:12.5px;pointer-events:none}
.tip.on{display:block}
.tip .tt{font:700 12.5px var(--mono);margin-bottom:4px;white-space:pre}
.tip table{border-collapse:collapse}
.tip th{text-align:left;font-weight:500;color:var(--muted);padding:1px 10px 1px 0;white-space:nowrap;vertical-align:top}
.tip td{padding:1px 0;font-family:var(--mono);font-size:12px}
.tip tr.bad td{color:var(--lost);font-weight:700}
.tip tr.cause td{color:#111827;font-weight:600}
table.idx{border-collapse:collapse;background:#fff;border:1px solid var(--line);border-radius:10px;overflow:hidden}
table.idx th,table.idx td{padding:6px 12px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
table.idx th{background:#f1f5f9;font-size:12.5px}
table.idx td.name a{font-family:var(--mono);color:var(--a);font-weight:600}
table.idx td.num{font-family:var(--mono);text-align:right}
</style>
{{- end -}}

{{- define "script" -}}
<script>
(function () {
  "use strict";
  var root = document.documentElement;
  function setLang(l) {
    root.classList.toggle("zh", l === "zh");
    root.lang = l === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-lang]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-lang") === l));
    });
    document.querySelectorAll("a[data-page]").forEach(function (a) {
      a.setAttribute("href", a.getAttribute("data-page") + (l === "zh" ? "#zh" : ""));
    });
  }
  document.querySelectorAll("[data-lang]").forEach(function (b) {
    b.addEventListener("click", function () {
      var l = b.getAttribute("data-lang");
      setLang(l);
      location.hash = l;
    });
  });
  setLang(location.hash === "#zh" ? "zh" : "en");

  var cur = null, curEl = null;
  function rel(el, on) {
    (el.getAttribute("data-rel") || "").split(" ").forEach(function (id) {
      var r = id && document.getElementById(id);
      if (r) r.classList.toggle("rel", on);
    });
  }
  function hide() {
    if (cur) cur.classList.remove("on");
    if (curEl) { curEl.classList.remove("act"); rel(curEl, false); }
    cur = curEl = null;
  }
  function place(x, y) {
    var w = cur.offsetWidth, h = cur.offsetHeight, left = x + 16, top = y + 16;
    if (left + w > window.scrollX + root.clientWidth - 8) left = x - w - 16;
    if (top + h > window.scrollY + window.innerHeight - 8) top = Math.max(window.scrollY + 8, y - h - 16);
    cur.style.left = Math.max(8, left) + "px";
    cur.style.top = top + "px";
  }
  function show(el, x, y) {
    if (curEl !== el) {
      hide();
      var t = document.getElementById(el.getAttribute("data-tip"));
      if (!t) return;
      cur = t; curEl = el;
      t.classList.add("on"); el.classList.add("act"); rel(el, true);
    }
    place(x, y);
  }
  function tipOf(n) { return n && n.closest ? n.closest("[data-tip]") : null; }
  document.addEventListener("mouseover", function (e) {
    var el = tipOf(e.target);
    if (el) show(el, e.pageX, e.pageY); else if (!tipOf(document.activeElement)) hide();
  });
  document.addEventListener("mousemove", function (e) {
    if (curEl && tipOf(e.target) === curEl) place(e.pageX, e.pageY);
  });
  document.addEventListener("focusin", function (e) {
    var el = tipOf(e.target);
    if (!el) return;
    var r = el.getBoundingClientRect();
    show(el, r.left + window.scrollX + r.width / 2, r.top + window.scrollY + r.height / 2);
  });
  document.addEventListener("focusout", hide);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") hide(); });
  root.setAttribute("data-ready", "1");
})();
</script>
{{- end -}}

{{- define "langs" -}}
<nav class="langs" aria-label="Language / 语言"><button type="button" data-lang="en" aria-pressed="true">English</button><button type="button" data-lang="zh" aria-pressed="false" lang="zh-CN">中文</button></nav>
{{- end -}}

{{- define "page" -}}
<!DOCTYPE html>
<html lang="en">
<head>
{{template "head"}}
<title>{{.Page.Title}} · tcpwave</title>
</head>
<body>
<header class="top">
<span class="brand">tcpwave</span>
<h1>{{.Page.Title}}</h1>
{{- if .Status}}
<span class="badge {{if .StatusOK}}ok{{else}}bad{{end}}" id="status">{{.Status}}</span>
{{- end}}
{{- if .Page.Index}}
<a class="back" href="{{.Page.Index}}" data-page="{{.Page.Index}}">← {{template "t" (ui "index")}}</a>
{{- end}}
{{template "langs"}}
</header>
{{- if .Summary.EN}}
<p class="summary" id="summary">{{template "t" .Summary}}</p>
{{- end}}
<main>
<section class="panel" id="ladder">
<h2>{{template "t" (ui "ladder")}}</h2>
<p class="help">{{template "t" (ui "ladderHelp")}}</p>
<div class="legend">
{{- range .Legend}}
<span class="{{.Class}}"><svg width="30" height="14" aria-hidden="true">{{.Icon}}</svg>{{template "t" .Text}}</span>
{{- end}}
</div>
{{template "ladder" .Ladder}}
</section>
<section class="panel" id="fsm">
<h2>{{template "t" (ui "fsm")}}</h2>
<p class="help">{{template "t" (ui "fsmHelp")}}</p>
{{template "fsm" .FSM}}
<div class="paths" id="paths">
{{- range $s, $ps := .FSM.Paths}}{{range $ps}}
<div data-host="{{index $.FSM.Hosts $s}}" data-path="{{join .States " "}}"><span class="chip side{{$s}}">{{index $.FSM.Hosts $s}}</span>{{if .Tag.EN}}<span class="tag">{{template "t" .Tag}}</span>{{end}}{{join .States " → "}}</div>
{{- end}}{{end}}
</div>
</section>
</main>
<footer>
{{- if .Page.Facts}}<div class="facts">{{join .Page.Facts " · "}}</div>{{end}}
<div>{{if .Page.Origin.EN}}{{template "t" .Page.Origin}}{{else}}{{template "t" (ui "generated")}}{{end}}</div>
</footer>
<div id="tips">
{{- range .Tips}}
<div class="tip" id="{{.ID}}" role="tooltip"><div class="tt">{{.Title}}</div><table>
{{- range .Rows}}<tr{{if .Class}} class="{{.Class}}"{{end}}><th>{{template "t" .Key}}</th><td>{{template "t" .Val}}</td></tr>{{end -}}
</table></div>
{{- end}}
</div>
{{template "script"}}
</body>
</html>
{{end -}}

{{- define "ladder" -}}
<svg class="ladder" width="{{n .W}}" height="{{n .H}}" viewBox="0 0 {{n .W}} {{n .H}}" role="img" aria-label="ladder diagram">
<defs>
<marker id="ah0" viewBox="0 0 10 10" refX="9.5" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0.5 L10,5 L0,9.5 z" fill="#2563eb"/></marker>
<marker id="ah1" viewBox="0 0 10 10" refX="9.5" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0.5 L10,5 L0,9.5 z" fill="#ea580c"/></marker>
</defs>
<text class="tickhead" x="{{n .TimeX}}" y="70" text-anchor="end">t (s)</text>
{{- range .Heads}}
<g class="hhead side{{.Side}}" data-host="{{.Name}}"><rect x="{{n .BoxX}}" y="8" width="{{n .W}}" height="30"/><text class="hname" x="{{n .X}}" y="29" text-anchor="middle">{{.Name}}</text>{{if .Sub.Text.EN}}{{template "svgt" .Sub}}{{end}}</g>
{{- end}}
{{- range .Lines}}
<line class="tl side{{.Side}}{{if .Dotted}} dotted{{end}}" x1="{{n .X}}" y1="{{n .Y1}}" x2="{{n .X}}" y2="{{n .Y2}}"/>
{{- if .Break1}}<path class="brkmark" d="{{.Break1}} {{.Break2}}"/>{{end}}
{{- end}}
{{- range .Ticks}}
<text class="tick" x="{{n $.TimeX}}" y="{{n (add .Y 3.5)}}" text-anchor="end">{{.Label}}</text>
{{- end}}
{{- range .Breaks}}
<g class="brk" data-y1="{{n .Y1}}" data-y2="{{n .Y2}}"><rect x="{{n .RX}}" y="{{n .RY}}" width="{{n .RW}}" height="22" rx="11"/>{{template "svgt" .Label}}{{range .Notes}}{{template "svgt" .}}{{end}}</g>
{{- end}}
{{- range .States}}
<g class="state pill c-{{.Cat}} side{{.Side}}" id="{{.ID}}" tabindex="0" data-tip="{{.Tip}}" data-rel="{{.Rel}}" data-ev="{{.Ev}}" data-host="{{.Host}}" data-from="{{.From}}" data-to="{{.To}}" aria-describedby="{{.Tip}}"><rect x="{{n .PX}}" y="{{n .PY}}" width="{{n .PW}}" height="{{n .PH}}"/><text class="st" x="{{n .TX}}" y="{{n (add .Y 4)}}" text-anchor="middle">{{.To}}</text>{{if .Tag.Text.EN}}{{template "svgt" .Tag}}{{end}}<circle class="dot" cx="{{n .X}}" cy="{{n .Y}}" r="4.5"/></g>
{{- end}}
{{- range .Apps}}
<g class="app{{if .Err}} err{{end}}{{if .EOF}} eof{{end}}" id="{{.ID}}" tabindex="0" data-tip="{{.Tip}}" data-ev="{{.Ev}}" data-host="{{.Host}}" aria-describedby="{{.Tip}}"><path class="mark" d="{{.Mark}}"/><text x="{{n .TX}}" y="{{n (add .Y 4)}}" text-anchor="{{.Anchor}}">{{.Text}}</text></g>
{{- end}}
{{- range .Arrows}}
<g class="seg side{{.FromSide}} {{.Fate}}{{if .Dashed}} dashed{{end}}" id="{{.ID}}" tabindex="0" data-tip="{{.Tip}}" data-rel="lbl-{{.ID}} {{.Rel}}" data-seg="{{.Seg}}" data-from="{{.From}}" data-to="{{.To}}" data-fate="{{.Fate}}"
{{- if ge .Send 0}} data-send="{{.Send}}"{{end}}{{if ge .Recv 0}} data-recv="{{.Recv}}"{{end}}{{if ge .Drop 0}} data-drop="{{.Drop}}"{{end}} aria-describedby="{{.Tip}}">
<line class="hit" x1="{{n .X1}}" y1="{{n .Y1}}" x2="{{n .X2}}" y2="{{n .Y2}}"/>
<line class="shaft" x1="{{n .X1}}" y1="{{n .Y1}}" x2="{{n .X2}}" y2="{{n .Y2}}"{{if .Head}} marker-end="url(#ah{{.FromSide}})"{{end}}/>
{{- if .Cross}}<path class="cross" d="{{.Cross}}"/>{{end}}
</g>
{{- end}}
{{- range .Arrows}}
<g class="seglbl side{{.FromSide}} {{.Fate}}" id="lbl-{{.ID}}" data-tip="{{.Tip}}" data-rel="{{.ID}} {{.Rel}}"><text class="seglabel" transform="translate({{n .LX}},{{n .LY}}) rotate({{n .Angle}})" text-anchor="middle">{{.Seg}}</text>
{{- if .Tag.Text.EN}}{{template "svgt" .Tag}}{{end -}}
{{- if .End.Text.EN}}{{template "svgt" .End}}{{end -}}
</g>
{{- end}}
</svg>
{{- end -}}

{{- define "fsm" -}}
<svg class="fsm" width="{{n .W}}" height="{{n .H}}" viewBox="0 0 {{n .W}} {{n .H}}" role="img" aria-label="TCP state diagram">
<defs>
<marker id="fg" viewBox="0 0 10 10" refX="9.5" refY="5" markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0.5 L10,5 L0,9.5 z" fill="#9ca3af"/></marker>
<marker id="fa0" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0.5 L10,5 L0,9.5 z" fill="#2563eb"/></marker>
<marker id="fa1" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0.5 L10,5 L0,9.5 z" fill="#ea580c"/></marker>
</defs>
{{- range .Edges}}
<g class="edge{{if .Extra}} extra{{end}}" data-edge="{{.Key}}"><path d="{{.D}}" marker-end="url(#fg)"/>{{range .Labels}}{{template "svgt" .}}{{end}}</g>
{{- end}}
{{- range .HL}}
<path class="hl side{{.Side}}{{if .Extra}} extra{{end}}" id="{{.ID}}" data-host="{{.Host}}" data-edge="{{.Key}}" d="{{.D}}" transform="translate({{n .DX}},{{n .DY}})" marker-end="url(#fa{{.Side}})"/>
{{- end}}
{{- range .Nodes}}
<g class="node c-{{.Cat}}{{if not .Visited}} unvisited{{end}}" id="{{.ID}}" data-state="{{.State}}" data-visited="{{.Visited}}"><rect x="{{n .X}}" y="{{n .Y}}" width="{{n .W}}" height="{{n .H}}" rx="7"/><text class="st" x="{{n .TX}}" y="{{n .TY}}" text-anchor="middle">{{.State}}</text>
{{- range .Badges}}<g class="badge side{{.Side}}" data-host="{{.Host}}"><circle cx="{{n .X}}" cy="{{n .Y}}" r="7.5"/><text x="{{n .X}}" y="{{n (add .Y 3.2)}}" text-anchor="middle">{{.Label}}</text></g>{{end -}}
</g>
{{- end}}
</svg>
{{- end -}}

{{- define "index" -}}
<!DOCTYPE html>
<html lang="en">
<head>
{{template "head"}}
<title>{{.Title}} · tcpwave</title>
</head>
<body>
<header class="top">
<span class="brand">tcpwave</span>
<h1>{{template "t" .Index.Title}}</h1>
{{template "langs"}}
</header>
{{- if .Intro.EN}}
<p class="summary">{{template "t" .Intro}}</p>
{{- end}}
<table class="idx" id="index">
<thead><tr><th>{{template "t" (ui "scenario")}}</th><th>{{template "t" (ui "summary")}}</th><th>{{template "t" (ui "segments")}}</th><th>{{template "t" (ui "lost")}}</th><th>{{template "t" (ui "result")}}</th></tr></thead>
<tbody>
{{- range .Rows}}
<tr data-name="{{.Name}}"><td class="name"><a href="{{.Href}}" data-page="{{.Href}}">{{.Name}}</a></td><td>{{template "t" .Summary}}</td><td class="num">{{.Segments}}</td><td class="num">{{.Lost}}</td><td>{{if .StatusText}}<span class="badge {{if .OK}}ok{{else}}bad{{end}}">{{.StatusText}}</span>{{end}}</td></tr>
{{- end}}
</tbody>
</table>
<footer><div>{{template "t" (ui "generated")}}</div></footer>
{{template "script"}}
</body>
</html>
{{end -}}
`
