module github.com/tcpwave/tcpwave

go 1.26
