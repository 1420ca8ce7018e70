# Set by release.auto.tfvars.json (written beside release.json by the bake).
variable "immutable_app" { type = string }
variable "immutable_release_id" { type = string }
variable "immutable_commit" { type = string }
variable "immutable_image" { type = string }
variable "immutable_image_digest" { type = string }
variable "immutable_amis" { type = map(string) }
variable "immutable_launch_template_id" { type = string }
variable "immutable_launch_template_name" { type = string }
variable "immutable_launch_template_version" { type = string }

# The infrastructure's own.
variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "instances" {
  type    = number
  default = 3
}

variable "subnets" { type = list(string) }

variable "target_group_arns" {
  type    = list(string)
  default = []
}
