module github.com/chartroom/chartroom/e2e

go 1.26.8
