module weft/cni

go 1.19
