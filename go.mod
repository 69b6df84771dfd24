module github.com/farmwatch/farmwatch

go 1.26.4

require (
	go.uber.org/zap v1.28.0
	golang.org/x/tools v0.52.0
	gopkg.in/yaml.v3 v3.0.1
)

require go.uber.org/multierr v1.10.0 // indirect
